// Staged variable changes: what a person added, changed, sealed or removed on the variables page but
// has not deployed yet ("3 changes — Deploy"). One change per name (a later one replaces it), and
// Deploy sends them all as ONE PATCH /v1/services/{id}/variables, which makes one deployment.

export type Listing = { variables: Record<string, string>; sealed: string[] };

export type Change =
  | { kind: "set"; name: string; value: string }
  | { kind: "seal"; name: string; value: string }
  | { kind: "unset"; name: string };

export type Staged = Readonly<Record<string, Change>>;

export type VariablesPatch = { set?: Record<string, string>; sealed?: Record<string, string>; unset?: string[] };

/** The staged changes with `change` made; a change that leaves the name as it is now is no change. */
export function stage(staged: Staged, change: Change, current: Listing): Staged {
  const { [change.name]: _previous, ...rest } = staged;
  const exists = change.name in current.variables || current.sealed.includes(change.name);
  const noop =
    (change.kind === "set" && current.variables[change.name] === change.value) ||
    (change.kind === "unset" && !exists);
  return noop ? rest : { ...rest, [change.name]: change };
}

/** The staged changes without the one for `name` (its "Undo"). */
export function unstage(staged: Staged, name: string): Staged {
  const { [name]: _dropped, ...rest } = staged;
  return rest;
}

export const countOf = (staged: Staged) => Object.keys(staged).length;

export const changesLabel = (count: number) => `${count} ${count === 1 ? "change" : "changes"}`;

/** The one request body that applies every staged change. */
export function toPatch(staged: Staged): VariablesPatch {
  const patch: VariablesPatch = {};
  for (const change of Object.values(staged)) {
    if (change.kind === "set") (patch.set ??= {})[change.name] = change.value;
    else if (change.kind === "seal") (patch.sealed ??= {})[change.name] = change.value;
    else (patch.unset ??= []).push(change.name);
  }
  return patch;
}

export type Row = {
  name: string;
  value: string | null; // null: sealed, its value is never shown (the API never returns it)
  sealed: boolean;
  change: "added" | "changed" | "removed" | null;
  staged: boolean; // a row shows whether a change is staged, never the sealed value it carries
};

/** The variables as the page lists them: the current ones with their staged changes, then the added. */
export function rows(current: Listing, staged: Staged): Row[] {
  const names = new Set([...Object.keys(current.variables), ...current.sealed, ...Object.keys(staged)]);
  return [...names].sort().map((name) => {
    const change = staged[name] ?? null;
    const exists = name in current.variables || current.sealed.includes(name);
    const sealedNow = current.sealed.includes(name);
    if (!change) {
      return { name, value: sealedNow ? null : current.variables[name], sealed: sealedNow, change: null, staged: false };
    }
    if (change.kind === "unset") {
      return { name, value: sealedNow ? null : current.variables[name], sealed: sealedNow, change: "removed", staged: true };
    }
    const sealed = change.kind === "seal";
    return { name, value: sealed ? null : change.value, sealed, change: exists ? "changed" : "added", staged: true };
  });
}
