"""Teams, heroes, a hero's team (nullable FK) and memberships (M2M through HeroTeamLink)."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, Prefetch, Q
from django.db.models.functions import Now


class TeamQuerySet(models.QuerySet):
    def with_member_count(self):
        """Annotate each team with `member_count`, its number of memberships."""
        return self.annotate(member_count=Count("hero_links", distinct=True))

    def with_hero_count(self):
        """Annotate each team with `hero_count`, the heroes whose team it is."""
        return self.annotate(hero_count=Count("heroes", distinct=True))


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

    def related_to(self, team):
        """Keep the heroes whose team is `team` or who are members of it."""
        return self.filter(
            Q(team=team) | Q(pk__in=HeroTeamLink.objects.filter(team=team).values("hero_id"))
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
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="hero_links")
    # Database defaults, so the INSERT ... SELECT of the bulk services can omit them.
    is_training = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        db_table = "heroteamlink"
        verbose_name = "membership"
        constraints = [
            models.UniqueConstraint(fields=["hero", "team"], name="heroteamlink_hero_team_unique"),
        ]

    def __str__(self):
        training = " (training)" if self.is_training else ""
        return f"{self.hero} in {self.team}{training}"

    def __repr__(self):
        return (
            f"HeroTeamLink(id={self.pk!r}, hero_id={self.hero_id!r}, "
            f"team_id={self.team_id!r}, is_training={self.is_training!r})"
        )
