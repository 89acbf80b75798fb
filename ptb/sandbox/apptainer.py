"""``sandbox=apptainer``: the agent runs in the agent image on a cluster node.

``--containall`` gives fresh PID and IPC namespaces, a minimal /dev and an empty /tmp and /var/tmp;
the host's file system is absent except the job directory (bound at the same path, as HOME), the
cache and the spec's read-only paths: no host ``/run`` (munge's and every other service's sockets),
no ``/etc/slurm``; ``--no-mount hostfs,bind-paths`` keeps out what the site's apptainer.conf would
add. With ``network=egress`` or ``none`` the container gets its own network namespace with only
loopback (``--net --network none``, allowed to unprivileged users since Apptainer 1.1), into which
ptb's relays carry the gateway and, for ``egress``, the logging proxy.
The environment reaches the container only as ``APPTAINERENV_<NAME>`` variables of the host
process (never on the command line); ``--cleanenv`` drops everything else.

Apptainer's own ``--overlay`` layers the container's root, not a bound host folder, so the HF
cache's throw-away layer comes from the shared helper (fuse-overlayfs on the host, else a
read-only bind).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ptb.sandbox.base import IsolatedSandbox

HOST_VARS = ("PATH", "USER", "LOGNAME", "APPTAINER_CACHEDIR", "APPTAINER_TMPDIR")
"""Host variables the apptainer process itself may need; none reach the container."""
BUILD_HINT = "build one with `containers/build.sh agent` (containers/README.md)"


def bind(src: Path, dst: Path, *, readonly: bool = False) -> list[str]:
    spec = f"{src}:{dst}" + (":ro" if readonly else "")
    if "," in str(src) + str(dst) or ":" in str(src) + str(dst):
        raise ValueError(f"apptainer cannot bind a path containing ',' or ':': {spec}")
    return ["--bind", spec]


class ApptainerSandbox(IsolatedSandbox):
    requires = (
        "apptainer",
        "install Apptainer on the compute nodes and build the image: containers/build.sh agent",
    )
    python = "python3"  # the image's interpreter, not the host's

    def image(self) -> str:
        if not self.cfg.image:
            raise RuntimeError(
                f"sandbox=apptainer needs `sandbox.image` (a .sif file): {BUILD_HINT}"
            )
        return self.cfg.image

    def start(self) -> None:
        found = shutil.which(self.binary)
        if found is None:
            raise RuntimeError(
                "sandbox=apptainer needs the `apptainer` binary, which is not on PATH "
                "(on a cluster: `module load apptainer`; see https://apptainer.org/docs/admin/)"
            )
        self.binary = found
        image = Path(self.image()).expanduser()
        if not image.exists():
            raise FileNotFoundError(f"sandbox.image={image} does not exist: {BUILD_HINT}")
        super().start()  # the egress proxy and the relays into the container's network namespace
        if self.overlay:
            self.overlay.start(kernel=False)

    def host_env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in HOST_VARS if k in os.environ}
        inside = self.inside_env()  # no scheduler variables; the proxy's with egress
        inside.pop("HOME", None)  # set by --home; Apptainer refuses APPTAINERENV_HOME
        if self.overlay:
            inside.setdefault("HF_HOME", str(self.overlay.lower))
        env.update({f"APPTAINERENV_{k}": v for k, v in inside.items()})
        return env

    def wrap(self, argv: list[str]) -> list[str]:
        spec = self.spec
        # --no-mount: site-wide `bind path` entries (e.g. /scratch) and `mount hostfs` stay out.
        args = [self.binary, "exec", "--containall", "--cleanenv", "--no-home",
                "--no-mount", "hostfs,bind-paths"]  # fmt: skip
        args += ["--home", str(spec.home), "--pwd", str(spec.workdir)]
        if spec.gpus > 0:
            args.append("--nv")
        if self.own_netns:
            args += ["--net", "--network", "none"]
        args += bind(spec.home, spec.home)
        args += self._cache_args()
        for b in self.binds:
            args += bind(b.src, b.dst, readonly=b.readonly)
        for path in (*(p for p in spec.extra_ro_binds if p.exists()), *spec.readonly):
            args += bind(path, path, readonly=True)
        if self.relays.socket_dir is not None:  # host services (gateway, proxy) via Unix sockets
            args += bind(self.relays.socket_dir, self.relays.socket_dir)
        return [*args, self.image(), *self.relays.wrap(self.python, argv)]

    def _cache_args(self) -> list[str]:
        ov = self.overlay
        if not ov:
            return []
        if ov.mode == "fuse":
            args = bind(ov.merged, ov.lower)
        else:
            args = bind(ov.lower, ov.lower, readonly=True)
        for path in ov.masked():
            args += bind(ov.empty, path, readonly=True)
        return args
