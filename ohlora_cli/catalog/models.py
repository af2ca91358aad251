"""The catalog's tables (SQLAlchemy 2 declarative).  The schema itself is created by migrations only.

Vectors (z, label, w, directions) are float32 LE BLOBs (``catalog.vectors``).
Every uniqueness that resuming relies on is a database constraint.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Generator(Base):
    """A generator network: file, sha256, architecture, and lineage (parent for fine-tunes)."""

    __tablename__ = "generators"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String)  # embedded | ohlora | genforce | bare (the seed's and other bare state dicts)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    resolution: Mapped[int] = mapped_column(Integer)
    z_dim: Mapped[int] = mapped_column(Integer)
    w_dim: Mapped[int] = mapped_column(Integer)
    label_size: Mapped[int] = mapped_column(Integer)
    num_layers: Mapped[int] = mapped_column(Integer)
    config_json: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    lineage_json: Mapped[str | None] = mapped_column(Text)  # fine-tunes: parent, selection, preset, run (rev 0004)


class Run(Base):
    """One invocation of a stage, with its resolved options."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String)
    options_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String)  # running | done | failed | interrupted (Ctrl-C, or its process gone)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[str] = mapped_column(String)
    message: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)  # the process that runs it (rev 0005)
    host: Mapped[str | None] = mapped_column(String)
    process_start: Mapped[str | None] = mapped_column(String)  # tells a reused pid apart (ohlora_cli.processes)


class Image(Base):
    """One generated sample: its own seed, z, label, w and how it was rendered."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("generator_id", "seed", "label_mode", name="uq_image_seed"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    seed: Mapped[int] = mapped_column(Integer)
    label_mode: Mapped[str] = mapped_column(String)  # random | zero | none
    z: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[bytes | None] = mapped_column(LargeBinary)
    w: Mapped[bytes] = mapped_column(LargeBinary)
    psi: Mapped[float] = mapped_column(Float)
    trunc_layers: Mapped[int] = mapped_column(Integer)
    noise_mode: Mapped[str] = mapped_column(String)
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Score(Base):
    """One property value of one image from one scorer (a new scorer version adds rows)."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("image_id", "property", "scorer", name="uq_score"),
                      Index("ix_scores_scorer_property", "scorer", "property"))
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    property: Mapped[str] = mapped_column(String)
    value: Mapped[float] = mapped_column(Float)
    scorer: Mapped[str] = mapped_column(String)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))


class HandLabel(Base):
    """A person's 0/1 label of an image for a filter property (gender, quality, age, glass)."""

    __tablename__ = "hand_labels"
    __table_args__ = (UniqueConstraint("image_id", "property", name="uq_hand_label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    property: Mapped[str] = mapped_column(String)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(Text)


class Grouping(Base):
    """A partition of a generator's images into h/l groups over some properties (added in rev 0002)."""

    __tablename__ = "groupings"
    __table_args__ = (UniqueConstraint("generator_id", "name", name="uq_grouping_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id"))
    group_by_json: Mapped[str] = mapped_column(Text)
    cutoffs_json: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_group", "grouping_id", "group_name"),)
    grouping_id: Mapped[int] = mapped_column(ForeignKey("groupings.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    group_name: Mapped[str] = mapped_column(String)


class DirectionSet(Base):
    """Directions found (or imported) together: one method, one generator (or none for imports)."""

    __tablename__ = "direction_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    method: Mapped[str] = mapped_column(String)
    generator_id: Mapped[int | None] = mapped_column(ForeignKey("generators.id"))
    w_dim: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    sign_flipped: Mapped[bool] = mapped_column(Boolean, default=False)
    options_json: Mapped[str] = mapped_column(Text, default="{}")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Direction(Base):
    """A unit vector in w space; **adding it increases the property** (project-wide convention)."""

    __tablename__ = "directions"
    __table_args__ = (UniqueConstraint("set_id", "property", "group_name", name="uq_direction"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("direction_sets.id", ondelete="CASCADE"))
    property: Mapped[str] = mapped_column(String)
    group_name: Mapped[str] = mapped_column(String)  # "all" for an ungrouped direction
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")


class Identity(Base):
    """A named latent code (z ‖ label), e.g. the original project's 19 selected faces."""

    __tablename__ = "identities"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    z_dim: Mapped[int] = mapped_column(Integer)
    label_size: Mapped[int] = mapped_column(Integer)
    z: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[bytes | None] = mapped_column(LargeBinary)
    group_name: Mapped[str | None] = mapped_column(String)
    source: Mapped[str] = mapped_column(Text)
    meta_json: Mapped[str] = mapped_column(Text, default="{}")


class Normalisation(Base):
    """Reference mean / std (ddof 1) of one scorer's property, fitted once and reused (added in rev 0003)."""

    __tablename__ = "normalisations"
    __table_args__ = (UniqueConstraint("scorer", "property", name="uq_normalisation"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scorer: Mapped[str] = mapped_column(String)
    property: Mapped[str] = mapped_column(String)
    mean: Mapped[float] = mapped_column(Float)
    std: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Selection(Base):
    """A named set of images that passed ``filter`` rules."""

    __tablename__ = "selections"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id"))
    rules_json: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SelectionMember(Base):
    __tablename__ = "selection_members"
    selection_id: Mapped[int] = mapped_column(ForeignKey("selections.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)


class CnnModel(Base):
    """A scoring CNN file (a filter ensemble or the Property Score CNN) known by name (added in rev 0004)."""

    __tablename__ = "cnn_models"
    __table_args__ = (UniqueConstraint("name", "kind", name="uq_cnn_model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)  # cnn-gender | cnn-quality | cnn-age | cnn-glass | cnn-property
    path: Mapped[str] = mapped_column(Text)  # embedded:<file> for shipped ones
    sha256: Mapped[str] = mapped_column(String(64))
    resolution: Mapped[int] = mapped_column(Integer)
    width: Mapped[float] = mapped_column(Float)
    folds: Mapped[int] = mapped_column(Integer)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Evaluation(Base):
    """One ``ohlora eval`` of one direction set on N cases (added in rev 0004)."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    generator_id: Mapped[int] = mapped_column(ForeignKey("generators.id"))
    direction_set_id: Mapped[int | None] = mapped_column(ForeignKey("direction_sets.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String)
    scorer: Mapped[str] = mapped_column(String)
    options_json: Mapped[str] = mapped_column(Text)
    summary_json: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EvaluationCase(Base):
    """One case of an evaluation: its per-property Pearson r and pass flag (like ``test_result.csv``)."""

    __tablename__ = "evaluation_cases"
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"), primary_key=True)
    case: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String)
    group_name: Mapped[str | None] = mapped_column(String)
    r_eyes: Mapped[float | None] = mapped_column(Float)
    r_mouth: Mapped[float | None] = mapped_column(Float)
    r_pose: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    metrics_json: Mapped[str] = mapped_column(Text)
