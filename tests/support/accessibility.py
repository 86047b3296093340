"""What a keyboard or screen-reader user meets on one dashboard page, checked in the real browser:
axe-core's audit (the standard engine, bundled by the pinned `axe-playwright-python` package), the
page's width against the screen's, a Tab walk over every interactive element with its focus ring,
and the accessible name Chromium itself gives every control (its accessibility tree, what a screen
reader reads). Each check returns the problems in words; the test fails once, naming them all.

axe's script is evaluated through the DevTools protocol (Playwright's `evaluate`), which the page's
Content-Security-Policy does not govern, so the pages are audited under their real CSP.
"""

from __future__ import annotations

from typing import Any

# What fails the audit. Serious and critical: a user is blocked (no name, unreadable contrast, a
# control out of reach). Moderate too: on these few pages its rules are about structure a screen
# reader navigates by (landmarks, heading order, unique landmark names), each fix is a line of markup,
# and a rule let slide now is a regression nobody notices later. Minor stays a report, not a failure.
FAILING_IMPACTS = ("critical", "serious", "moderate")
MAX_TABS = 80  # more stops than any page has: a walk that never comes round is a focus trap
MIN_RING_CONTRAST = 3.0  # WCAG 1.4.11: a focus indicator against what is behind it

INTERACTIVE = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), "
    'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'
)
NAMED_ROLES = {
    "button", "link", "textbox", "searchbox", "combobox", "listbox", "checkbox", "radio",
    "switch", "slider", "spinbutton", "menuitem", "tab",
}  # fmt: skip


def axe_problems(page: Any) -> list[str]:
    """axe-core's violations at FAILING_IMPACTS: rule id, impact, the elements, and what to do."""
    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("() => typeof axe === 'object'"):  # once a page: it is half a megabyte
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    problems = []
    for violation in results["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        targets = "; ".join(" ".join(map(str, node["target"])) for node in violation["nodes"][:5])
        why = violation["nodes"][0].get("failureSummary", "").replace("\n", " ") if violation["nodes"] else ""
        problems.append(
            f"axe {violation['id']} ({violation['impact']}): {violation['help']} — at {targets}: {why} "
            f"({violation['helpUrl']})"
        )
    return problems


def overflow_problems(page: Any) -> list[str]:
    """A page wider than the screen makes a phone user scroll sideways to read every line."""
    excess = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    if excess <= 0:
        return []
    widest = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 3).map(el => el.outerHTML.slice(0, 100))"""
    )
    return [f"the page is {excess}px wider than the {page.viewport_size['width']}px screen: {widest}"]


_WALK_SETUP = """(selector) => {
    const visible = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    window.__a11yTargets = [...document.querySelectorAll(selector)].filter(visible);
    return window.__a11yTargets.length;
}"""

# The focused element, which of the page's interactive elements it is, and how its focus shows: an
# outline (colour against the first opaque background behind it) or a box-shadow.
_FOCUSED = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    let behind = el.parentElement, background = 'rgb(255, 255, 255)';
    for (; behind; behind = behind.parentElement) {
        const colour = getComputedStyle(behind).backgroundColor;
        if (colour !== 'transparent' && !colour.endsWith(', 0)')) { background = colour; break; }
    }
    const rect = el.getBoundingClientRect();
    return {
        index: window.__a11yTargets.indexOf(el),
        what: el.outerHTML.slice(0, 90),
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
            ? style.outlineColor : null,
        shadow: style.boxShadow !== 'none',
        background,
        onScreen: rect.width > 0 && rect.height > 0 && rect.bottom > 0 && rect.right > 0
            && rect.top < window.innerHeight && rect.left < window.innerWidth,
    };
}"""


def _rgb(colour: str) -> tuple[float, float, float]:
    parts = colour[colour.index("(") + 1 : colour.index(")")].split(",")
    red, green, blue = (float(part) for part in parts[:3])
    return red, green, blue


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two CSS `rgb()`/`rgba()` colours (alpha ignored)."""

    def luminance(colour: str) -> float:
        linear = [
            c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
            for c in _rgb(colour)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def keyboard_problems(page: Any) -> list[str]:
    """Tab round the page until focus is back where it first landed: every interactive element must
    be reached, on screen, with a focus ring that contrasts with what is behind it."""
    count = page.evaluate(_WALK_SETUP, INTERACTIVE)
    reached: set[int] = set()
    problems: list[str] = []
    first = None
    for _ in range(MAX_TABS if count else 0):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None:
            continue  # past the last element: the document itself, then round again
        identity = focused["index"] if focused["index"] >= 0 else focused["what"]
        if identity == first:
            break
        first = identity if first is None else first
        reached.add(focused["index"])
        ring = focused["outline"]
        if ring is None and not focused["shadow"]:
            problems.append(f"no visible focus on {focused['what']}")
        elif ring is not None and (ratio := contrast(ring, focused["background"])) < MIN_RING_CONTRAST:
            problems.append(
                f"focus ring {ring} on {focused['background']} is {ratio:.1f}:1 (< {MIN_RING_CONTRAST}) "
                f"on {focused['what']}"
            )
        if not focused["onScreen"]:
            problems.append(f"focus went to something off screen: {focused['what']}")
    else:
        if count:
            problems.append(f"focus never came round after {MAX_TABS} Tabs: a keyboard trap?")
    missed = sorted(set(range(count)) - reached)
    if missed:
        outers = page.evaluate(
            "(missed) => missed.map(i => window.__a11yTargets[i].outerHTML.slice(0, 90))", missed
        )
        problems.extend(f"Tab never reaches {outer}" for outer in outers)
    return problems


def name_problems(page: Any) -> list[str]:
    """Every control in Chromium's accessibility tree has a name a screen reader can speak."""
    session = page.context.new_cdp_session(page)
    try:
        nodes = session.send("Accessibility.getFullAXTree")["nodes"]
        problems = []
        for node in nodes:
            role = node.get("role", {}).get("value")
            named = node.get("name", {}).get("value", "").strip()
            if node.get("ignored") or role not in NAMED_ROLES or named:
                continue
            described = session.send("DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]})["node"]
            attributes = described.get("attributes", [])
            pairs = " ".join(f'{k}="{v}"' for k, v in zip(attributes[::2], attributes[1::2], strict=True))
            problems.append(f"a {role} with no accessible name: <{described['localName']} {pairs}>")
        return problems
    finally:
        session.detach()


def page_problems(page: Any) -> list[str]:
    """All of the above for the page as it is now (the caller waits for it to be settled)."""
    return overflow_problems(page) + name_problems(page) + axe_problems(page) + keyboard_problems(page)
