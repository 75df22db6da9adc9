"""Teams, heroes, a hero's team (nullable FK) and memberships (M2M through HeroTeamLink)."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, Prefetch, Q
from django.db.models.functions import Now
from django.utils import timezone


class TeamQuerySet(models.QuerySet):
    def with_member_count(self):
        """Annotate each team with `member_count`, its number of memberships."""
        return self.annotate(member_count=Count("hero_links", distinct=True))

    def with_hero_count(self):
        """Annotate each team with `hero_count`, the heroes whose team it is."""
        return self.annotate(hero_count=Count("heroes", distinct=True))

    def with_counts(self):
        """Annotate `hero_count` and `member_count`, a subquery each: cheap on a page of teams."""
        return self.annotate(
            hero_count=_count_of(Hero.objects.filter(team=models.OuterRef("pk"))),
            member_count=_count_of(HeroTeamLink.objects.filter(team=models.OuterRef("pk"))),
        )

    def search(self, text):
        """Keep the teams whose name contains `text`, ignoring case, the closest names first."""
        return self.filter(name__icontains=text).order_by(*_closest_first(text))

    def with_membership_of(self, hero):
        """Annotate `is_member` and `is_trainee`: the hero's membership of each team."""
        links = HeroTeamLink.objects.filter(hero_id=hero.pk, team=models.OuterRef("pk"))
        return self.annotate(
            is_member=models.Exists(links),
            is_trainee=models.Exists(links.filter(is_training=True)),
        )


def _first_of_each(kinds, limit: int):
    """The ids of the first `limit` heroes of each queryset of `kinds`, as one UNION ALL.

    Each cut is a sliced subquery of its own, since SQLite allows no LIMIT in the parts
    of a UNION.
    """
    cuts = [
        Hero.objects.filter(pk__in=kind.values("pk")[:limit]).order_by().values("pk")
        for kind in kinds
    ]
    return cuts[0].union(*cuts[1:], all=True)


def _rekeyed(page: Q, path: str) -> Q:
    """`page`'s lookups on the id (`id__gt`, `pk__lt`...) made on `path` instead."""
    return Q(*((f"{path}__{lookup.partition('__')[2]}", value) for lookup, value in page.children))


def _closest_first(text):
    """Ordering: the name equal to `text` first, then names starting with it, then by name."""
    closeness = models.Case(
        models.When(name__iexact=text, then=0),
        models.When(name__istartswith=text, then=1),
        default=2,
        output_field=models.IntegerField(),
    )
    return [closeness, "name", "pk"]


def _count_of(rows):
    """A subquery counting `rows` (filtered on an OuterRef): one row, 0 when none match."""
    return models.Subquery(
        rows.order_by()
        .annotate(count=models.Func(models.F("pk"), function="COUNT"))
        .values("count")
    )


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    headquarters = models.CharField(max_length=200)

    objects = TeamQuerySet.as_manager()

    class Meta:
        db_table = "team"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"Team(id={self.pk!r}, name={self.name!r}, headquarters={self.headquarters!r})"


class HeroQuerySet(models.QuerySet):
    def with_team(self):
        """Fetch each hero's team in the same query."""
        return self.select_related("team")

    def with_teams(self):
        """Fetch each hero's team and memberships (links with their teams) in two queries."""
        return self.with_team().prefetch_related(
            Prefetch(
                "team_links",
                queryset=HeroTeamLink.objects.select_related("team").order_by("team__name"),
            )
        )

    def related_to(self, team, *, page: Q | None = None, order: str = "pk", limit: int = 0):
        """Keep the heroes whose team is `team` or who are members of it.

        With `limit`, only the first `limit` of them in `order` that `page` (a page's
        bounds) keeps: each of the two kinds is cut to the page before they are merged,
        so that a team of 300,000 heroes costs what a team of 30 does.
        """
        # One IN over a UNION ALL of two index lookups: with `team = ... OR id IN (...)`
        # PostgreSQL filters the whole hero table instead (0.5 s at a million heroes).
        if not limit:
            heroes = Hero.objects.filter(team=team).order_by().values("pk")
            members = HeroTeamLink.objects.filter(team=team).values("hero_id")
            return self.filter(pk__in=heroes.union(members, all=True))
        # The merge is then of 2 x `limit` ids at most. The members' bounds and order are
        # on the link's hero_id, so that the index of (team, hero) is read from the page
        # on (PostgreSQL carries no inequality from hero.id over to it).
        via_links = "team_links__hero_id"
        kinds = [
            self.filter(page or Q(), team=team).order_by(order),
            self.filter(_rekeyed(page or Q(), via_links), team_links__team=team).order_by(
                order.replace("pk", via_links).replace("id", via_links)
            ),
        ]
        return self.filter(pk__in=_first_of_each(kinds, limit))

    def search(self, text, *, candidates: int = 0):
        """Keep the heroes whose name or secret name contains `text`, closest names first.

        With `candidates`, the closest of at most that many heroes named `text`, as many
        whose name starts with it, and as many others: "man" finds 89,000 of a million
        heroes, and ordering them all by closeness took half a second.
        """
        found = self.filter(Q(name__icontains=text) | Q(secret_name__icontains=text))
        if candidates:
            closest = [self.filter(name__iexact=text), self.filter(name__istartswith=text)]
            kinds = [kind.order_by() for kind in [*closest, found]]
            found = self.filter(pk__in=_first_of_each(kinds, candidates))
        return found.order_by(*_closest_first(text))

    def with_membership_in(self, team):
        """Annotate `is_member` and `is_trainee`: each hero's membership of `team`."""
        links = HeroTeamLink.objects.filter(hero=models.OuterRef("pk"), team_id=team.pk)
        return self.annotate(
            is_member=models.Exists(links),
            is_trainee=models.Exists(links.filter(is_training=True)),
        )


class Hero(models.Model):
    name = models.CharField(max_length=100, db_index=True)
    secret_name = models.CharField(max_length=100)
    age = models.IntegerField(
        null=True, blank=True, db_index=True, validators=[MinValueValidator(0)]
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="heroes",
    )
    teams = models.ManyToManyField(Team, through="HeroTeamLink", related_name="members", blank=True)

    objects = HeroQuerySet.as_manager()

    class Meta:
        db_table = "hero"
        ordering = ["id"]
        verbose_name_plural = "heroes"
        constraints = [
            models.CheckConstraint(
                condition=Q(age__gte=0),
                name="hero_age_not_negative",
                violation_error_message="Age cannot be negative.",
            ),
        ]

    def __str__(self):
        return self.name

    def __repr__(self):
        return (
            f"Hero(id={self.pk!r}, name={self.name!r}, secret_name={self.secret_name!r}, "
            f"age={self.age!r}, team_id={self.team_id!r})"
        )


class HeroTeamLink(models.Model):
    # The unique (hero, team) index leads with hero_id, so it serves lookups by hero.
    hero = models.ForeignKey(
        Hero, on_delete=models.CASCADE, related_name="team_links", db_index=False
    )
    # Indexed with hero_id below: a team's members are read in hero order without a sort.
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="hero_links", db_index=False
    )
    # Database defaults, so the INSERT ... SELECT of the bulk services can omit them.
    is_training = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "heroteamlink"
        verbose_name = "membership"
        constraints = [
            models.UniqueConstraint(fields=["hero", "team"], name="heroteamlink_hero_team_unique"),
        ]
        indexes = [models.Index(fields=["team", "hero"], name="heroteamlink_team_hero_idx")]

    def __str__(self):
        training = " (training)" if self.is_training else ""
        return f"{self.hero} in {self.team}{training}"

    def __repr__(self):
        return (
            f"HeroTeamLink(id={self.pk!r}, hero_id={self.hero_id!r}, "
            f"team_id={self.team_id!r}, is_training={self.is_training!r})"
        )


class ChangeSetQuerySet(models.QuerySet):
    def for_hero(self, hero):
        """Keep the change sets in which `hero` changed."""
        return self.filter(pk__in=HeroChange.objects.filter(hero=hero).values("change_set_id"))

    def for_team(self, team):
        """Keep the change sets about `team`: its memberships, or heroes moved in or out of it."""
        # An IN over a UNION ALL of three index lookups, not an OR that PostgreSQL would
        # answer by reading the whole table (as in HeroQuerySet.related_to).
        about = ChangeSet.objects.filter(team=team).order_by().values("pk")
        moved_out = HeroChange.objects.filter(team_before=team).order_by().values("change_set_id")
        moved_in = HeroChange.objects.filter(team_after=team).order_by().values("change_set_id")
        return self.filter(pk__in=about.union(moved_out, moved_in, all=True))

    def with_kind(self):
        """Annotate `kind`, what the entries change: "team" or "membership" (one per change set)."""
        # Every service records entries of one kind, so any one entry tells (an index lookup).
        entries = HeroChange.objects.filter(change_set=models.OuterRef("pk")).order_by()
        return self.annotate(kind=models.Subquery(entries.values("kind")[:1]))


class ChangeSet(models.Model):
    """One recorded connection change (a service call): who, from where, what, and its SQL."""

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        PAGE = "page", "Staff pages"
        COMMAND = "command", "Command line"
        OTHER = "other", "Other"

    class Operation(models.TextChoices):
        ASSIGN = "assign", "Assign team"
        CLEAR = "clear", "Clear team"
        JOIN = "join", "Join team"
        LEAVE = "leave", "Leave team"
        TOGGLE = "toggle", "Toggle membership"
        TRAINING = "training", "Set training"
        REVERT = "revert", "Revert"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="hero_change_sets",
    )
    # Who, as shown: the username, or the OS user and host for commands.
    actor = models.CharField(max_length=150)
    source = models.CharField(max_length=10, choices=Source, db_index=True)
    operation = models.CharField(max_length=10, choices=Operation)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField()
    heroes_changed = models.PositiveIntegerField(default=0)
    sql = models.TextField(help_text="The statements of the change, as the console shows them.")
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverted_by"
    )

    objects = ChangeSetQuerySet.as_manager()

    class Meta:
        db_table = "changeset"
        ordering = ["-created_at", "-id"]
        verbose_name = "change"

    def __str__(self):
        return f"#{self.pk} {self.message}"


class HeroChangeQuerySet(models.QuerySet):
    def with_teams(self):
        """Fetch each entry's teams (the membership's, before and after) in the same query."""
        return self.select_related("team", "team_before", "team_after")

    def history_of(self, hero):
        """The entries about `hero` (one per change set), each with its change set and teams."""
        return self.filter(hero=hero).with_teams().select_related("change_set")


def _logged_reference(model: type[models.Model], related_name: str = "+") -> models.ForeignKey:
    """An entry's reference to a hero or team: optional, cleared if the row goes, indexed
    as HeroChange.Meta says, kept by Django rather than the database (see HeroChange)."""
    return models.ForeignKey(
        model,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
        db_index=False,
        db_constraint=False,
    )


class HeroChange(models.Model):
    """One hero's part of a change set: a team or a membership, before and after.

    Its references are kept by Django, not by the database (`db_constraint=False`):
    entries are a log written by the thousand in one INSERT ... SELECT, and PostgreSQL
    checks a foreign key with a trigger per row (a lookup and a row lock, at COMMIT),
    which cost more than writing the entries. Django's `on_delete` still applies:
    deleting a hero or a team clears it from the entries, deleting a change set
    deletes them. The rows an entry names are guarded while it is written: the
    team's row is locked by membership changes, and the change itself (a link, a
    hero's team, the change set's team) is checked by the database's own keys.
    """

    class Kind(models.TextChoices):
        TEAM = "team", "Team"
        MEMBERSHIP = "membership", "Membership"

    # Indexed with id below: a change set's entries, first ones first, without a sort.
    change_set = models.ForeignKey(
        ChangeSet,
        on_delete=models.CASCADE,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )
    # The (hero, change_set) index below serves lookups by hero.
    hero = _logged_reference(Hero, related_name="changes")
    hero_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind)
    # A membership's team; for a change of team, the team before and after. Each is
    # indexed where set (below): the other entries leave them NULL.
    team = _logged_reference(Team)
    team_before = _logged_reference(Team)
    team_after = _logged_reference(Team)
    # A membership before and after: member or not, and in training or not.
    member_before = models.BooleanField(null=True)
    member_after = models.BooleanField(null=True)
    training_before = models.BooleanField(null=True)
    training_after = models.BooleanField(null=True)

    objects = HeroChangeQuerySet.as_manager()

    class Meta:
        db_table = "herochange"
        indexes = [
            models.Index(fields=["hero", "change_set"], name="herochange_hero_set_idx"),
            models.Index(fields=["change_set", "id"], name="herochange_set_id_idx"),
            # Partial: a membership entry has no team before or after, a team entry no
            # membership team, and a NULL would cost an index entry for nothing. They
            # serve the team's history and clearing a deleted team from the entries.
            models.Index(
                fields=["team"], name="herochange_team_idx", condition=Q(team__isnull=False)
            ),
            models.Index(
                fields=["team_before"],
                name="herochange_team_before_idx",
                condition=Q(team_before__isnull=False),
            ),
            models.Index(
                fields=["team_after"],
                name="herochange_team_after_idx",
                condition=Q(team_after__isnull=False),
            ),
        ]
        ordering = ["id"]

    def __str__(self):
        return f"{self.hero_name}: {self.describe()}"

    def describe(self) -> str:
        """The change in words, e.g. "Preventers → none" or "joined Z-Force (training)"."""
        if self.kind == self.Kind.TEAM:
            before = self.team_before.name if self.team_before_id else "no team"
            after = self.team_after.name if self.team_after_id else "no team"
            return f"team {before} → {after}"
        team = self.team.name if self.team_id else "a deleted team"

        def state(member, training):
            if not member:
                return "not a member"
            return "trainee" if training else "member"

        return (
            f"{team}: {state(self.member_before, self.training_before)} → "
            f"{state(self.member_after, self.training_after)}"
        )
