"""Alembic's environment: `chassis db upgrade directmail.service:create_app --factory`."""

from chassis_sqlalchemy import run_migrations
from directmail.models import Base

run_migrations(target_metadata=Base.metadata)
