"""First-boot MQTT provisioning for the box's system mosquitto (systemd/callbox-provision.service).

    python3 -m firmware.status.provision --config /etc/callbox/callbox.toml \\
        --mqtt-dir /etc/callbox/mqtt --mosquitto-conf-d /etc/mosquitto/conf.d

Generates this box's credentials (one user per role: calld, supervisor, wallboard) unless they
exist, writes the hashed password file and the ACL into `--mqtt-dir` (readable by the mosquitto
group), `calld.password` (for `[mqtt] password_file`), and `callbox.conf` into mosquitto's
conf.d: no anonymous access, MQTT on `--port` and websockets on `--websockets-port` for browser
wallboards. Existing credentials are never replaced; rerunning refreshes the files from them.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import sys
from pathlib import Path

from firmware.status.broker import (
    config_text,
    generate_credentials,
    load_credentials,
    save_credentials,
    tree_for,
    write_broker_files,
)


def provision(
    config_path: Path,
    mqtt_dir: Path,
    conf_d: Path,
    *,
    host: str = "0.0.0.0",
    port: int = 1883,
    websockets_port: int | None = 9001,
) -> Path:
    from firmware.config import load_config

    config = load_config(config_path)
    tree = tree_for(config)
    mqtt_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    creds_file = mqtt_dir / "credentials.json"
    creds = load_credentials(creds_file) if creds_file.exists() else generate_credentials(tree.box)
    save_credentials(creds_file, creds)
    files = write_broker_files(
        mqtt_dir, tree, host=host, port=port, websockets_port=websockets_port, credentials=creds
    )
    files.config.unlink()  # the standalone config is for private brokers; write the snippet
    secret = mqtt_dir / "calld.password"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(creds["calld"].password + "\n")
    with contextlib.suppress(KeyError, PermissionError):  # let the mosquitto group read them
        gid = grp.getgrnam("mosquitto").gr_gid
        for path in (mqtt_dir, files.password_file, files.acl_file):
            os.chown(path, -1, gid)
            os.chmod(path, 0o750 if path.is_dir() else 0o640)
    conf_d.mkdir(parents=True, exist_ok=True)
    snippet = conf_d / "callbox.conf"
    snippet.write_text(
        config_text(
            host=host,
            port=port,
            password_file=files.password_file,
            acl_file=files.acl_file,
            websockets_port=websockets_port,
            standalone=False,
        )
    )
    return snippet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m firmware.status.provision", description=__doc__)
    ap.add_argument("--config", type=Path, default=Path("/etc/callbox/callbox.toml"))
    ap.add_argument("--mqtt-dir", type=Path, default=Path("/etc/callbox/mqtt"))
    ap.add_argument("--mosquitto-conf-d", type=Path, default=Path("/etc/mosquitto/conf.d"))
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--websockets-port", type=int, default=9001)
    args = ap.parse_args(argv)
    try:
        snippet = provision(
            args.config,
            args.mqtt_dir,
            args.mosquitto_conf_d,
            host=args.host,
            port=args.port,
            websockets_port=args.websockets_port or None,
        )
    except (OSError, ValueError) as exc:
        print(f"provision: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {snippet} and the credentials in {args.mqtt_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
