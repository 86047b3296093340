// A service's own variables, editable as STAGED changes: add, edit, seal (write-only) and remove
// stage locally; the bar says "3 changes — Deploy" and Deploy sends them as one PATCH, which makes
// one deployment (docs/api.md), under one Idempotency-Key per set of staged changes: pressing Deploy
// again after a failure (its answer may only have been lost) sends the same key, and the API answers
// the first success instead of making a second deployment. Names are checked before staging by the
// API's published rule.
"use client";

import Link from "next/link";
import { useRef, useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { FieldError } from "@/components/FieldError";
import { ApiError, submitKeys } from "@/lib/api";
import type { Applied } from "@/lib/edits";
import { deploymentHref } from "@/lib/paths";
import { loadRules, variableNameProblem, type Rules } from "@/lib/rules";
import { changesLabel, countOf, rows, stage, toPatch, unstage, type Change, type Listing, type Staged } from "@/lib/staging";
import styles from "./editing.module.css";

type Props = {
  current: Listing;
  rules: Rules | null;
  canWrite: boolean | null; // false: the caller's role may not (controls off, and why)
  apply: (patch: ReturnType<typeof toPatch>, idempotencyKey: string) => Promise<Applied>;
};

/** The staged name an API message is about, so its error goes beside that row. */
function nameIn(message: string, staged: Staged): string | null {
  return Object.keys(staged).find((name) => new RegExp(`(^|[^A-Za-z0-9_])${name}([^A-Za-z0-9_]|$)`).test(message)) ?? null;
}

export function VariablesEditor({ current, rules, canWrite, apply }: Props) {
  const [staged, setStaged] = useState<Staged>({});
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [sealed, setSealed] = useState(false);
  const [nameError, setNameError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ error: ApiError; name: string | null } | null>(null);
  const [applied, setApplied] = useState<Applied | null>(null);
  const [keys] = useState(submitKeys<Staged>); // each staging is a new object: a new key
  const sending = useRef(false); // `busy` is a render late: a double click could pass it
  const locked = canWrite === false || busy;

  function stageChange(change: Change) {
    setStaged((now) => stage(now, change, current));
    setApplied(null);
    setFailure(null);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    // Typed before the rules arrived: wait for them (without them the API's check still answers)
    const known = rules ?? (await loadRules().catch(() => null));
    const problem = variableNameProblem(known, name.trim());
    setNameError(problem);
    if (problem) return;
    stageChange({ kind: sealed ? "seal" : "set", name: name.trim(), value });
    setName("");
    setValue("");
    setSealed(false);
  }

  function edit(rowName: string, rowValue: string | null, rowSealed: boolean) {
    setName(rowName);
    setValue(rowSealed ? "" : (rowValue ?? ""));
    setSealed(rowSealed);
    setNameError(null);
    document.getElementById("variable-value")?.focus();
  }

  async function deploy() {
    if (sending.current) return;
    sending.current = true;
    setBusy(true);
    setFailure(null);
    try {
      const result = await apply(toPatch(staged), keys.of(staged));
      keys.done();
      setStaged({});
      setApplied(result);
    } catch (caught) {
      const error = caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught));
      setFailure({ error, name: nameIn(error.message, staged) });
    } finally {
      sending.current = false;
      setBusy(false);
    }
  }

  const count = countOf(staged);
  const listed = rows(current, staged);
  return (
    <>
      {listed.length === 0 ? (
        <p className="muted">This service has no variables of its own yet.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="skip">The service&apos;s own variables, with staged changes marked</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {listed.map((row) => (
                <tr key={row.name} data-variable={row.name}>
                  <th scope="row" className={`${styles.cell} ${row.change === "removed" ? styles.removed : ""}`}>
                    {row.name}
                    {row.change && <span className={styles.badge}>{row.change}</span>}
                  </th>
                  <td className={styles.cell}>
                    {row.sealed ? (
                      <span className={styles.masked}>sealed — never shown</span>
                    ) : (
                      <span className={`${styles.value} ${row.change === "removed" ? styles.removed : ""}`}>{row.value}</span>
                    )}
                    {failure?.name === row.name && (
                      <FieldError id={`variable-error-${row.name}`} text={`${failure.error.code}: ${failure.error.message}`} />
                    )}
                  </td>
                  <td>
                    <div className={styles.actions}>
                      {row.staged ? (
                        <button type="button" className={styles.button} disabled={locked} onClick={() => setStaged((s) => unstage(s, row.name))} aria-label={`Undo the change to ${row.name}`}>
                          Undo
                        </button>
                      ) : (
                        <>
                          <button type="button" className={styles.button} disabled={locked} onClick={() => edit(row.name, row.value, row.sealed)} aria-label={`${row.sealed ? "Replace" : "Edit"} ${row.name}`}>
                            {row.sealed ? "Replace" : "Edit"}
                          </button>
                          <button type="button" className={styles.button} disabled={locked} onClick={() => stageChange({ kind: "unset", name: row.name })} aria-label={`Remove ${row.name}`}>
                            Remove
                          </button>
                        </>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <form className={styles.form} onSubmit={submit} aria-label="Stage a variable" noValidate>
        <div className={styles.row}>
          <div className={styles.field}>
            <label htmlFor="variable-name">Name</label>
            <input
              id="variable-name"
              value={name}
              onChange={(e) => setName(e.target.value)}
              disabled={locked}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={nameError ? true : undefined}
              aria-describedby={nameError ? "variable-name-error" : undefined}
            />
            <FieldError id="variable-name-error" text={nameError} />
          </div>
          <div className={styles.field}>
            <label htmlFor="variable-value">Value</label>
            <input
              id="variable-value"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              disabled={locked}
              autoComplete="off"
              spellCheck={false}
              type={sealed ? "password" : "text"}
              aria-describedby="variable-value-hint"
            />
            <span id="variable-value-hint" className={styles.hint}>
              References such as {"${{shared.DOMAIN}}"} are allowed.
            </span>
          </div>
        </div>
        <label className={styles.check}>
          <input type="checkbox" checked={sealed} onChange={(e) => setSealed(e.target.checked)} disabled={locked} />
          Sealed (write-only: stored encrypted, never shown again)
        </label>
        <div>
          <button type="submit" className="primary" disabled={locked}>
            Stage
          </button>
        </div>
      </form>

      {count > 0 && (
        <div className={styles.bar} role="region" aria-label="Staged changes">
          <strong>
            {changesLabel(count)} — not deployed yet
          </strong>
          <div className={styles.actions}>
            <button type="button" className="primary" onClick={deploy} disabled={locked}>
              {busy ? "Deploying…" : "Deploy"}
            </button>
            <button type="button" className={styles.button} onClick={() => setStaged({})} disabled={busy}>
              Discard
            </button>
          </div>
        </div>
      )}
      {failure && (
        <ErrorNote
          error={failure.error}
          context={failure.name ? `Not deployed (see ${failure.name} above)` : "Not deployed"}
        />
      )}
      {applied && (
        <p className={styles.done} role="status">
          {applied.deployment ? (
            <>
              Applied: one deployment makes them live —{" "}
              <Link href={deploymentHref(applied.deployment.id)}>deployment {applied.deployment.id}</Link>
            </>
          ) : (
            "Saved. The service has no live release, so nothing was deployed: its next deployment uses them."
          )}
        </p>
      )}
    </>
  );
}
