"""The guard's rules: a short stable id for each thing a small fix never does, and the source checks behind them.

Every refusal names one rule (:class:`Refusal`), which is what is recorded, shown by ``aimon status`` and listed in
the README; the ids are stable because a repository turns rules off by id (``[autofix.guard] disable``). The source
rules compare the :mod:`facts <aimon.stages.autofix.facts>` of a Rust file before and after the patch: a rule fires
when the patched file does *more* of what the rule watches than the file did before (one more ``unsafe``, a first
``std::fs``), so code that was already there never blocks a fix around it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from aimon.redact import PLACEHOLDER
from aimon.stages.autofix.facts import NOT_CRATES, in_scope


@dataclass(frozen=True)
class Refusal:
    """Why the guard refuses a patch: the rule's id and a message that names what it found."""

    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Rule:
    """One guard rule: its id, what it refuses (a line for the README and the PR body), and whether a repository may
    turn it off (containment and readability may never be)."""

    id: str
    refuses: str
    fixed: bool = False


# In the order they are checked: the first that fires is the one recorded.
RULES: tuple[Rule, ...] = (
    Rule("path-escape", "absolute paths, `..`, symlinks, anything that resolves outside the repository", fixed=True),
    Rule("ci-config", "CI and forge configuration (`.github/`, `.gitlab-ci.yml`, CODEOWNERS, ...)"),
    Rule("dependency-change", "manifests and lockfiles (`Cargo.toml`, `Cargo.lock`, ...), a new `extern crate`"),
    Rule("build-script", "build scripts and build configuration (`build.rs`, `.cargo/`, `rust-toolchain`, Makefiles)"),
    Rule("secret-file", "secret or credential files (`.env`, keys, `.netrc`, ...)"),
    Rule("vendored-code", "vendored code (`vendor/`, `third_party/`)"),
    Rule("generated-code", "generated code (`generated/`, `*.pb.rs`, a file marked `@generated` or `DO NOT EDIT`)"),
    Rule("test-harness", "`tests/` and `benches/`, removing or ignoring a test, custom test frameworks, new doctests"),
    Rule("proc-macro", "procedural macro crates and `proc_macro` code (it runs inside the compiler)"),
    Rule("new-file", "creating files: only existing files are edited", fixed=True),
    Rule("outside-paths", "files outside `AIMON_AUTOFIX_PATHS` plus `[autofix.guard] paths`"),
    Rule("not-rust", "files that are not Rust source (`.rs`), which the guard cannot read (turned off: budgets only)"),
    Rule("too-many-files", "more changed files than the budget (`AIMON_AUTOFIX_MAX_FILES`, 3)"),
    Rule("too-many-lines", "more changed lines than the budget (`AIMON_AUTOFIX_MAX_LINES`, 40)"),
    Rule("too-many-chars", "more changed characters than the budget (`max_chars`, 4000)"),
    Rule("long-line", "an added line longer than `max_line_chars` (200)"),
    Rule("unreadable-source", "a patched file that does not lex as Rust (an unterminated string or comment)", fixed=True),
    Rule("redaction-placeholder", "code that contains a redaction placeholder (`<secret:token#1>`) the model saw"),
    Rule("spawns-process", "running programs: `std::process`, `Command`, `fork`/`exec*`, `system`, `popen`"),
    Rule("reads-secrets", "`std::env`, `env!`, `option_env!`, literals naming `/proc/`, `/etc/`, `~/.ssh`, `.env`, ..."),
    Rule("network-access", "`std::net`, sockets, HTTP and other network clients (`ureq`, `reqwest`, `hyper`, ...)"),
    Rule("filesystem-access", "`std::fs`, `File`, `OpenOptions`, directory walking, memory maps"),
    Rule("ffi-or-syscall", "FFI and raw system calls: `extern \"C\"`, `libc::`, `nix::`, `asm!`, `syscall`, `#[link]`"),
    Rule("includes-file", "`include!`, `include_str!`, `include_bytes!`, `#[path]`, a new `mod x;` read from a file"),
    Rule("adds-unsafe", "`unsafe` (also inside a macro), `#[no_mangle]`, `#[export_name]`, `#[link_section]`"),
    Rule("new-crate", "a crate the file did not use before (`use`, `extern crate`, `x::` paths), unless allowed"),
    Rule("new-macro", "defining a macro, or invoking one the file did not use that is not a known std/log macro"),
)
RULE_IDS = tuple(rule.id for rule in RULES)
SIZE_RULES = ("too-many-files", "too-many-lines", "too-many-chars", "long-line")


# Macros that expand to nothing a fix should fear: formatting, assertions, logging and error helpers.
SAFE_MACROS = frozenset(
    {
        "println", "print", "eprintln", "eprint", "format", "format_args", "write", "writeln", "vec", "panic",
        "assert", "assert_eq", "assert_ne", "debug_assert", "debug_assert_eq", "debug_assert_ne", "unreachable",
        "unimplemented", "todo", "matches", "concat", "stringify", "line", "column", "file", "module_path", "cfg",
        "dbg", "compile_error", "trace", "debug", "info", "warn", "error", "event", "span", "trace_span",
        "debug_span", "info_span", "warn_span", "error_span", "anyhow", "bail", "ensure", "json",
    }
)

_WATCHED: dict[str, frozenset[str]] = {
    "adds-unsafe": frozenset(
        {"ident:unsafe", "attr:no_mangle", "attr:export_name", "attr:link_section", "attr:naked", "attr:used",
         "ident:transmute"}
    ),
    "spawns-process": frozenset(
        {f"ident:{name}" for name in (
            "Command", "CommandExt", "Stdio", "fork", "vfork", "execv", "execve", "execvp", "execvpe", "execl",
            "execlp", "fexecve", "posix_spawn", "posix_spawnp", "system", "popen", "duct", "subprocess")}
        | {"seg:process"}
    ),
    "ffi-or-syscall": frozenset(
        {"ident:libc", "seg:nix", "seg:winapi", "seg:windows_sys", "seg:windows", "extern-abi", "macro:asm",
         "macro:global_asm", "macro:naked_asm", "macro:llvm_asm", "ident:syscall", "ident:dlopen", "ident:dlsym",
         "ident:libloading", "seg:arch", "attr:link"}
    ),
    "reads-secrets": frozenset({"seg:env", "macro:env", "macro:option_env", "ident:environ", "ident:var_os", "ident:vars_os"}),
    "network-access": frozenset(
        {"seg:net"}
        | {f"ident:{name}" for name in (
            "TcpStream", "TcpListener", "UdpSocket", "UnixStream", "UnixListener", "UnixDatagram", "ToSocketAddrs",
            "to_socket_addrs", "lookup_host", "ureq", "reqwest", "hyper", "curl", "isahc", "surf", "attohttpc",
            "minreq", "http_req", "tungstenite", "tokio_tungstenite", "websocket", "awc", "lettre", "socket2",
            "hickory_resolver", "trust_dns_resolver", "native_tls", "openssl", "rustls")}
    ),
    "filesystem-access": frozenset(
        {"seg:fs"}
        | {f"ident:{name}" for name in (
            "File", "OpenOptions", "DirBuilder", "read_dir", "remove_file", "remove_dir", "remove_dir_all",
            "create_dir", "create_dir_all", "hard_link", "symlink", "set_permissions", "memmap", "memmap2",
            "tempfile", "walkdir")}
    ),
    "includes-file": frozenset({"macro:include", "macro:include_str", "macro:include_bytes", "attr:path"}),
    "proc-macro": frozenset(
        {"ident:proc_macro", "ident:proc_macro2", "attr:proc_macro", "attr:proc_macro_derive", "attr:proc_macro_attribute"}
    ),
    "test-harness": frozenset(
        {"attr:ignore", "attr:should_panic", "attr:test_runner", "attr:no_main", "ident:custom_test_frameworks",
         "ident:test_runner", "ident:reexport_test_harness_main", "doctest"}
    ),
}
# Facts whose *loss* is what a rule refuses: a test that is no longer compiled or no longer run.
_REMOVED: dict[str, frozenset[str]] = {"test-harness": frozenset({"attr:test", "ident:test"})}
_PREFIXED: dict[str, tuple[str, ...]] = {"includes-file": ("mod-file:",), "reads-secrets": ("literal:",)}


@dataclass(frozen=True)
class Allowances:
    """What a repository allows beyond the defaults: crates and macros a fix may start using."""

    crates: frozenset[str] = frozenset()
    macros: frozenset[str] = frozenset()


def check_source(path: str, before: Counter[str], after: Counter[str], allow: Allowances,
                 disabled: Collection[str] = ()) -> Refusal | None:
    """The first source rule the patched file breaks, comparing its facts ``after`` with those ``before``."""
    for rule, check in _SOURCE_CHECKS:
        if rule in disabled:
            continue
        found = check(rule, before, after, allow)
        if found:
            return Refusal(rule, f"{path}: {found}")
    return None


def check_placeholders(path: str, before: str, after: str) -> Refusal | None:
    """A redaction placeholder written into code: the model copied what it was shown instead of the real value."""
    added = len(PLACEHOLDER.findall(after)) - len(PLACEHOLDER.findall(before))
    if added > 0:
        return Refusal("redaction-placeholder", f"{path}: the change writes a redaction placeholder into the code")
    return None


def _more(before: Counter[str], after: Counter[str], keys: Iterable[str]) -> str | None:
    for key in sorted(keys):
        if after[key] > before[key]:
            return key
    return None


def _watched(rule: str, before: Counter[str], after: Counter[str], allow: Allowances) -> str | None:
    keys = set(_WATCHED.get(rule, ()))
    keys |= {key for key in after if key.startswith(_PREFIXED.get(rule, ("\0",)))}
    grown = _more(before, after, keys)
    if grown:
        return f"the change adds {_show(grown)}, which the file did not do before"
    lost = _more(after, before, _REMOVED.get(rule, ()))
    if lost:
        return f"the change removes {_show(lost)}: a fix must pass the tests, not take them away"
    return None


def _show(fact: str) -> str:
    kind, _, name = fact.partition(":")
    shown = {"ident": f"`{name}`", "seg": f"`{name}::`", "macro": f"`{name}!`", "attr": f"`#[{name}]`",
             "literal": f"the literal {name!r}", "mod-file": f"`mod {name};`", "crate": f"`extern crate {name}`"}
    if kind in shown:
        return shown[kind]
    return {"extern-abi": '`extern "ABI"`', "doctest": "a doctest (a code block in a doc comment)",
            "macro-def": "a macro definition"}.get(fact, f"`{fact}`")


def _dependency(rule: str, before: Counter[str], after: Counter[str], allow: Allowances) -> str | None:
    grown = _more(before, after, {key for key in after if key.startswith("crate:")})
    return f"the change adds {_show(grown)}: a new dependency" if grown else None


def _new_crate(rule: str, before: Counter[str], after: Counter[str], allow: Allowances) -> str | None:
    known = {key.split(":", 1)[1] for key in before if key.startswith("ident:")} | in_scope(after) | NOT_CRATES
    for key in sorted(after):
        kind, _, name = key.partition(":")
        if kind in ("use-root", "abs-root", "path-root") and name not in known and name not in allow.crates:
            return f"the change starts using the crate `{name}`, which the file did not use ([autofix.guard] crates)"
    return None


def _new_macro(rule: str, before: Counter[str], after: Counter[str], allow: Allowances) -> str | None:
    if after["macro-def"] > before["macro-def"]:
        return "the change defines a macro, whose expansion the guard cannot check"
    for key in sorted(after):
        name = key.removeprefix("macro:")
        if key.startswith("macro:") and not before[key] and name not in SAFE_MACROS and name not in allow.macros:
            return f"the change invokes `{name}!`, a macro the file did not use ([autofix.guard] macros)"
    return None


_Check = Callable[[str, Counter[str], Counter[str], Allowances], "str | None"]
_SOURCE_CHECKS: tuple[tuple[str, _Check], ...] = (
    # What the code reaches for comes first (`unsafe { libc::system(..) }` is recorded as running a program).
    ("spawns-process", _watched),
    ("reads-secrets", _watched),
    ("network-access", _watched),
    ("filesystem-access", _watched),
    ("ffi-or-syscall", _watched),
    ("includes-file", _watched),
    ("adds-unsafe", _watched),
    ("proc-macro", _watched),
    ("test-harness", _watched),
    ("dependency-change", _dependency),
    ("new-crate", _new_crate),
    ("new-macro", _new_macro),
)
