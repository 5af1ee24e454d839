"""The rule file's menus as Asterisk dialplan: one context per menu, `callrouter-menu-NAME`.

What Asterisk runs, per menu (facts checked on Asterisk 22):
- `s`: Answer() (nothing on a channel already up), the try counter reset, one
  `UserEvent(callrouter,Menu: NAME)`, then the prompts in one Background() (a key interrupts
  them) and WaitExten(timeout); an input menu reads its digits with Read() instead, which stops
  at the longest length or `#`.
- a key with an option: `UserEvent(callrouter,Menu: NAME,Key: K)`, then what the option says;
  a key without one lands in `i`, a wait that ends without a key in `t`. Both count a try
  (CALLROUTER_MENU_TRIES); under `tries` the prompts play again, at the last one the
  caller goes where `on_invalid` / `on_timeout` says, with `Key: invalid` / `Key: timeout`.
- every way towards a person asks the router again in one FastAGI session,
  `AGI(…,menu=NAME,key=K[,choice=C],dnid=…)` (typed digits: `key=input,contract=DIGITS`; dnid the
  called number, ROUTE_DNID, which the router sets when a chain leads to a menu), having
  cleared ROUTE_1_TYPE so that a router that could not answer sends the call to the fallback
  queue, and walks the answer with the same Goto as [callrouter-inbound] (AGI_URL and WALK
  below are the shipped dialplan's own expressions; a test keeps them equal). An answer of
  ROUTE_INPUT=wrong (a number nobody has) counts a try like a wrong key.
Nothing holds a FastAGI session while a caller listens to a prompt. The UserEvents are how the
router's AMI listener counts menus for the report (the shipped AMI user reads them already).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from router.asterisk import variables as V
from router.core.menus import INPUT_KEY, INVALID_KEY, TIMEOUT_KEY, Menu, Option, menu_context
from router.core.rules import RuleSet

AGI_URL = '${IF(${ISNULL(${CALLROUTER_AGI})}?"agi://127.0.0.1:4573/route":${CALLROUTER_AGI})}'
"""Where the router listens: CALLROUTER_AGI, else the default (dialplans/callrouter.conf says the same)."""
WALK = 'Goto(${IF($["${ROUTE_1_TYPE}" = "ivr"]?${ROUTE_1_DEST},s,1:callrouter-step,${ROUTE_1_TYPE}-1,1)})'
"""The walk's first step, as [callrouter-inbound] takes it."""
HEADER = """\
; IVR menus of the rule file, written by `router ivr dialplan RULES`: do not edit here. Edit the
; menus in the rule file, check them with `router check`, write this file again and run
; `asterisk -rx "dialplan reload"` (`router serve` writes it itself on every reload with
; --ivr-dialplan or ROUTER_IVR_DIALPLAN). Include it beside callrouter.conf:
;     #include "callrouter/callrouter-ivr.conf"
; A target `{menu: NAME}` routes to the context callrouter-menu-NAME. Each menu sends
; UserEvent(callrouter,Menu: NAME) when a caller enters it and UserEvent(callrouter,Menu: NAME,Key: K)
; when they leave it (K a key, timeout, invalid or input): the router's report counts them.
; Every way out towards a person asks the router again (menu=, key=, choice=): the rules decide.
"""


def _event(menu: str, key: str = "") -> str:
    fields = f"{V.MENU_EVENT}: {menu}" + (f",{V.KEY_EVENT}: {key}" if key else "")
    return f"UserEvent({V.USER_EVENT},{fields})"


def _ask(menu: str, key: str, choice: str = "", digits: str = "") -> list[str]:
    args = (f"{V.MENU_ARG}={menu},{V.KEY_ARG}={key}" + (f",{V.CHOICE_ARG}={choice}" if choice else "") + digits
            + f",{V.DNID_ARG}=${{{V.DNID}}}")
    return [f"AGI({AGI_URL},{args})", WALK]


def _leave(menu: str, key: str, o: Option) -> list[str]:
    """The priorities after the caller left `menu` by `key` towards what `o` says."""
    lines = [_event(menu, key)]
    if o.menu is not None:
        return [*lines, f"Goto({menu_context(o.menu)},s,1)"]
    if o.then == "repeat":
        return [*lines, "Goto(s,prompt)"]
    if o.then == "hangup":
        return [*lines, "Hangup()"]
    return [*lines, f"Set({V.step_type(1)}=)", *_ask(menu, key, o.asked_choice)]


def _extension(exten: str, priorities: list[str]) -> list[str]:
    return [f"exten => {exten},1,{priorities[0]}", *(f" same => n,{app}" for app in priorities[1:])]


def _try(menu_name: str, menu: Menu, key: str, extra: list[str]) -> list[str]:
    """`t` or `i`: count a try; play the prompts again under `tries`, else go where the menu says."""
    tries = V.MENU_TRIES
    return [f"Set({tries}=$[${{{tries}}} + 1])", *extra, f"GotoIf($[${{{tries}}} < {menu.tries}]?s,prompt)",
            *_leave(menu_name, key, menu.after(key))]


def menu_context_lines(name: str, menu: Menu) -> list[str]:
    prompts = "&".join(menu.prompts)
    head = ["Answer()", f"Set({V.MENU_TRIES}=0)", _event(name)]
    lines = [f"[{menu_context(name)}]"]
    if menu.input is not None:
        field, (_, longest) = menu.input.field, menu.input.length
        digits = V.MENU_DIGITS
        wait = [f"Read({digits},{prompts},{longest},,1,{menu.timeout})",
                f'GotoIf($["${{{digits}}}" = ""]?t,1)', f"MSet({V.step_type(1)}=,{V.INPUT}=)",
                _ask(name, INPUT_KEY, digits=f",{field}=${{{digits}}}")[0],
                f'GotoIf($["${{{V.INPUT}}}" = "{V.INPUT_WRONG}"]?i,1)', _event(name, INPUT_KEY), WALK]
    else:
        wait = [f"Background({prompts})", f"WaitExten({menu.timeout})"]
    lines += [*_extension("s", head), f" same => n(prompt),{wait[0]}", *(f" same => n,{app}" for app in wait[1:])]
    for key, option in menu.options.items():
        lines += _extension(key, _leave(name, key, option))
    invalid_prompt = [f"Playback({menu.invalid_prompt})"] if menu.invalid_prompt else []
    lines += _extension("t", _try(name, menu, TIMEOUT_KEY, []))
    lines += _extension("i", _try(name, menu, INVALID_KEY, invalid_prompt))
    return lines


def dialplan(rs: RuleSet) -> str:
    """Every menu of the rule file as one dialplan file (empty of contexts when there are none)."""
    out = [HEADER]
    if not rs.menus:
        out.append("; (the rule file has no menus)\n")
    for name, menu in rs.menus.items():
        label = f" ({' '.join(menu.label.split())})" if menu.label else ""  # a comment stays one line
        out.append(f"; menu {name}{label}\n" + "\n".join(menu_context_lines(name, menu)) + "\n")
    return "\n".join(out)


def write(path: str | Path, text: str) -> bool:
    """Replace the file at once (Asterisk's `dialplan reload` never reads half of it); False when it
    already held this text."""
    path = Path(path)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
