import { describe, expect, it } from "vitest";
import { changesLabel, countOf, rows, stage, toPatch, unstage, type Listing, type Staged } from "@/lib/staging";

const current: Listing = { variables: { GREETING: "hi", PORTLESS: "1" }, sealed: ["API_KEY"] };

function staged(...changes: Parameters<typeof stage>[1][]): Staged {
  return changes.reduce<Staged>((now, change) => stage(now, change, current), {});
}

describe("staged variable changes", () => {
  it("counts one change per name and says it as the bar does", () => {
    const two = staged(
      { kind: "set", name: "A", value: "1" },
      { kind: "set", name: "B", value: "2" },
      { kind: "set", name: "A", value: "3" }, // a later change to A replaces the first
    );
    expect(countOf(two)).toBe(2);
    expect(changesLabel(countOf(two))).toBe("2 changes");
    expect(changesLabel(1)).toBe("1 change");
  });

  it("drops a change that leaves a variable as it is", () => {
    expect(countOf(staged({ kind: "set", name: "GREETING", value: "hi" }))).toBe(0);
    expect(countOf(staged({ kind: "unset", name: "NEVER_SET" }))).toBe(0);
    expect(countOf(staged({ kind: "set", name: "GREETING", value: "hello" }, { kind: "set", name: "GREETING", value: "hi" }))).toBe(0);
  });

  it("sends every change in ONE patch: set, sealed and unset", () => {
    const all = staged(
      { kind: "set", name: "GREETING", value: "${{shared.HELLO}}" },
      { kind: "seal", name: "TOKEN", value: "s3cret" },
      { kind: "unset", name: "PORTLESS" },
      { kind: "unset", name: "API_KEY" },
    );
    expect(toPatch(all)).toEqual({
      set: { GREETING: "${{shared.HELLO}}" },
      sealed: { TOKEN: "s3cret" },
      unset: ["PORTLESS", "API_KEY"],
    });
    expect(toPatch({})).toEqual({});
  });

  it("undo removes only that name's change", () => {
    const both = staged({ kind: "set", name: "A", value: "1" }, { kind: "unset", name: "GREETING" });
    expect(Object.keys(unstage(both, "A"))).toEqual(["GREETING"]);
  });

  it("lists rows with their change, never a sealed value", () => {
    const listed = rows(
      current,
      staged(
        { kind: "set", name: "NEW", value: "n" },
        { kind: "set", name: "GREETING", value: "hello" },
        { kind: "unset", name: "PORTLESS" },
        { kind: "seal", name: "API_KEY", value: "replaced" },
      ),
    );
    expect(listed.map((r) => [r.name, r.change, r.value, r.sealed])).toEqual([
      ["API_KEY", "changed", null, true],
      ["GREETING", "changed", "hello", false],
      ["NEW", "added", "n", false],
      ["PORTLESS", "removed", "1", false],
    ]);
    expect(JSON.stringify(listed)).not.toContain("replaced");
  });
});
