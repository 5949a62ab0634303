"""A tripwire against monkeypatching, run inside the sandbox by the trusted drivers.

Written beside every driver as /input/gaplab_guard.py (experiments/code.ts). A driver takes a
`snapshot()` after its own imports and before it imports the candidate, and calls `check()` once
the candidate's function has returned: a candidate that replaced or removed a public function or
class of a module loaded before it (numpy's, math's, the driver's own, a builtin, the import
machinery) fails with `TamperError` naming what it replaced.

This is not what protects the score. The harness and the evaluator run in other processes, with
their own copies of every module, and decode what comes back as untrusted data: a patch here
cannot change a metric. The tripwire makes the attempt visible (the trial fails with the reason,
and a person sees it) instead of letting it pass silently at its honest score. A candidate shares
this process and can defeat a tripwire it has read; it cannot defeat the process boundary.

Left alone, because libraries and honest code rebind them: names with a leading underscore
(caches, internals; builtins' `__import__` and `__build_class__` excepted), and the hooks
`sys.excepthook`, `sys.displayhook`, `sys.breakpointhook`, `sys.unraisablehook`,
`threading.excepthook`, and `warnings`' `showwarning`, `formatwarning`, `warn` and `warn_explicit`
(replacing `warnings.warn` is a common way to silence a library).
"""
import sys
import types

# Hooks that libraries set on purpose (logging.captureWarnings, IPython-style excepthooks).
HOOKS = frozenset(
    {
        ("sys", "excepthook"),
        ("sys", "displayhook"),
        ("sys", "breakpointhook"),
        ("sys", "unraisablehook"),
        ("threading", "excepthook"),
        ("warnings", "showwarning"),
        ("warnings", "formatwarning"),
        # `warnings.warn = lambda *a, **k: None`: a common way to silence a library's warnings.
        ("warnings", "warn"),
        ("warnings", "warn_explicit"),
    }
)
# Dunder names of builtins that replace how code is imported or built.
BUILTIN_DUNDERS = frozenset({"__import__", "__build_class__"})
_MISSING = object()


class TamperError(RuntimeError):
    """The candidate replaced functions of modules loaded before it."""


def _watched(module_name, name, value):
    if name.startswith("_") and not (module_name == "builtins" and name in BUILTIN_DUNDERS):
        return False
    if (module_name, name) in HOOKS or isinstance(value, types.ModuleType):
        return False
    return callable(value)


def snapshot():
    """The public callables of every module loaded now, by module, kept by identity."""
    seen = {}
    for module_name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        kept = {k: v for k, v in list(namespace.items()) if _watched(module_name, k, v)}
        if kept:
            seen[module_name] = (namespace, kept)
    return seen


def check(seen):
    """Raises TamperError naming every watched callable that was replaced or removed."""
    changed = []
    for module_name, (namespace, kept) in seen.items():
        for name, value in kept.items():
            if namespace.get(name, _MISSING) is not value:
                changed.append(f"{module_name}.{name}")
    if changed:
        changed.sort()
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise TamperError(
            f"the candidate replaced {shown}: functions of modules loaded before it. The harness "
            "and the evaluator keep their own copies, so this could not change a score; patching "
            "them is refused"
        )
