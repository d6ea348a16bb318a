"""Backups of the four databases in one dated archive, and their restore.

    python -m scripts.backup backup [--dir backups]     -> backups/studio-YYYYmmdd-HHMMSS.tar
    python -m scripts.backup restore ARCHIVE            (stop the services first)

The archive holds one pg_dump (custom format) per service database and manifest.json (when,
which databases, each one's alembic revision). Restore drops each database, creates it anew
and pg_restores it: the rows, the outbox and inbox, and the alembic revision all come back,
so the services start where the backup left them. Connection details come from config.yaml
(DATABASE_URL, DB_PREFIX), as the services' own.
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timezone

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.common.config import db_uri, libpq_uri, load_config
from services.common.migrate import SERVICES_WITH_DATABASE, drop_database, ensure_database


def alembic_revision(uri):
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def backup(config, folder):
    os.makedirs(folder, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    archive = os.path.join(folder, f"studio-{stamp}.tar")
    manifest = {"created_at": datetime.now(timezone.utc).isoformat(), "databases": {}}
    with tempfile.TemporaryDirectory() as work, tarfile.open(archive, "w") as tar:
        for service in SERVICES_WITH_DATABASE:
            uri = db_uri(config, service)
            dump = os.path.join(work, f"{service}.dump")
            subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}",
                            f"--dbname={libpq_uri(uri)}"], check=True)
            manifest["databases"][service] = {"database": make_url(uri).database,
                                              "alembic_revision": alembic_revision(uri)}
            tar.add(dump, arcname=f"{service}.dump")
        path = os.path.join(work, "manifest.json")
        with open(path, "w") as f:
            json.dump(manifest, f, indent=2)
        tar.add(path, arcname="manifest.json")
    return archive


def restore(config, archive):
    """Each service's database made anew from the archive. Returns the manifest."""
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        with open(os.path.join(work, "manifest.json")) as f:
            manifest = json.load(f)
        missing = set(SERVICES_WITH_DATABASE) - set(manifest["databases"])
        if missing:
            raise SystemExit(f"{archive} has no dump of {sorted(missing)}: not restoring")
        for service in SERVICES_WITH_DATABASE:
            uri = db_uri(config, service)
            drop_database(uri)
            ensure_database(uri)
            subprocess.run(["pg_restore", "--no-owner", "--exit-on-error",
                            f"--dbname={libpq_uri(uri)}",
                            os.path.join(work, f"{service}.dump")], check=True)
    return manifest


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m scripts.backup")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("backup", help="dump the four databases into one archive")
    made.add_argument("--dir", default="backups")
    back = commands.add_parser("restore", help="make the databases anew from an archive")
    back.add_argument("archive")
    args = parser.parse_args(argv)
    config = load_config()
    if args.command == "backup":
        print(backup(config, args.dir))
    else:
        manifest = restore(config, args.archive)
        print(f"restored {', '.join(manifest['databases'])} as of {manifest['created_at']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
