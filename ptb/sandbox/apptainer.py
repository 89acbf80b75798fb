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
import tempfile
from pathlib import Path

from ptb.sandbox.base import IsolatedSandbox, hidden_paths

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
    hide_root: Path | None = None

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
        mounts = [(spec.home, spec.home, False), *self._cache_mounts()]
        mounts += [(b.src, b.dst, b.readonly) for b in self.binds]
        mounts += [(p, p, True) for p in (*(p for p in spec.extra_ro_binds if p.exists()),
                                          *spec.readonly)]  # fmt: skip
        for src, dst, readonly in mounts:
            args += bind(src, dst, readonly=readonly)
        args += self._hide_args(mounts)
        if self.relays.socket_dir is not None:  # host services (gateway, proxy) via Unix sockets
            args += bind(self.relays.socket_dir, self.relays.socket_dir)
        return [*args, self.image(), *self.relays.wrap(self.python, argv)]

    def _hide_args(self, mounts: list[tuple[Path, Path, bool]]) -> list[str]:
        """Hide the spec's ``hide`` paths where the binds show them: an empty read-only folder
        bound over a hidden folder (with the mount points of what is bound on purpose inside it
        — HOME, a model, the cache — which is then bound again on top), ``/dev/null`` over a
        hidden file. Apptainer mounts the binds in the order given."""
        found = hidden_paths(self.spec.hide, self.spec.home, [(s, d) for s, d, _ in mounts])
        args: list[str] = []
        emptied: list[Path] = []
        for host, inside in found:
            if host.is_dir():
                emptied.append(inside)
            else:
                args += bind(Path("/dev/null"), inside, readonly=True)
        again = [m for m in mounts if any(e in m[1].parents for e in emptied)]
        for n, inside in enumerate(emptied):
            empty = self._hide_root() / str(n)
            empty.mkdir(parents=True, exist_ok=True)
            for src, dst, _ in again:
                if inside in dst.parents:
                    point = empty / dst.relative_to(inside)
                    if src.is_dir():
                        point.mkdir(parents=True, exist_ok=True)
                    else:
                        point.parent.mkdir(parents=True, exist_ok=True)
                        point.touch()
            args += bind(empty, inside, readonly=True)
        for src, dst, readonly in again:
            args += bind(src, dst, readonly=readonly)
        return args

    def _hide_root(self) -> Path:
        """A private folder for the empty folders bound over hidden ones (removed by stop)."""
        if self.hide_root is None:
            self.hide_root = Path(tempfile.mkdtemp(prefix="ptb-hide-"))
        return self.hide_root

    def stop(self) -> None:
        super().stop()
        if self.hide_root is not None:
            shutil.rmtree(self.hide_root, ignore_errors=True)
            self.hide_root = None

    def _cache_mounts(self) -> list[tuple[Path, Path, bool]]:
        ov = self.overlay
        if not ov:
            return []
        if ov.mode == "fuse":
            mounts = [(ov.merged, ov.lower, False)]
        else:
            mounts = [(ov.lower, ov.lower, True)]
        return mounts + [(ov.empty, path, True) for path in ov.masked()]
