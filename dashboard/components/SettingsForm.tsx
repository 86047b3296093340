// A service's deploy settings (start command, health check, replicas, cron): each field is checked as
// it is typed by the rule the API publishes (lib/rules.ts) and nothing invalid is sent; Save sends
// only the changed ones (PATCH /v1/services/{id} is partial) and the API's 400 goes beside the field
// it names. Settings apply at the next deployment, so a "Deploy now" follows a save: one
// Idempotency-Key per save's offer, kept when it is pressed again after a failure (its answer may
// only have been lost), so it makes one deployment.
"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { FieldError } from "@/components/FieldError";
import { ApiError, submitKeys } from "@/lib/api";
import { deploymentHref } from "@/lib/paths";
import { loadRules, parseSetting, type Rules } from "@/lib/rules";
import type { Deployment, Service } from "@/lib/types";
import styles from "./editing.module.css";

// The settings this form edits, in order; every rule about them comes from the API's schema.
export const FIELDS: { name: string; label: string; hint?: string; numeric?: boolean }[] = [
  { name: "startCommand", label: "Start command", hint: "Empty: what the build detected." },
  { name: "healthcheckPath", label: "Health check path", hint: "Empty: no HTTP check, live once the port opens." },
  { name: "healthcheckTimeout", label: "Health check timeout (seconds)", numeric: true },
  { name: "numReplicas", label: "Replicas", numeric: true },
  { name: "cronSchedule", label: "Cron schedule (UTC)", hint: "Five fields; empty: the service serves instead." },
];

const textOf = (value: unknown) => (value === null || value === undefined ? "" : String(value));

/** The field an API message names ("settings.numReplicas must be ..."), if it is one of the form's. */
export function fieldNamed(message: string): string | null {
  const named = /settings\.(\w+)/.exec(message)?.[1];
  return FIELDS.some((f) => f.name === named) ? (named as string) : null;
}

type Props = {
  service: Service;
  rules: Rules | null;
  canManage: boolean | null;
  canDeploy: boolean | null;
  save: (settings: Record<string, string | number | null>) => Promise<Service>;
  redeploy: (idempotencyKey: string) => Promise<Deployment>;
};

export function SettingsForm({ service, rules, canManage, canDeploy, save, redeploy }: Props) {
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [deployed, setDeployed] = useState<Deployment | null>(null);
  const [deployFailure, setDeployFailure] = useState<ApiError | null>(null);
  const [deployKeys] = useState(submitKeys<null>); // one offer at a time: `done` at each save
  const locked = canManage === false || busy;

  const changed = FIELDS.filter((f) => f.name in edits && edits[f.name] !== textOf(service.settings[f.name]));
  const parse = (known: Rules | null) =>
    Object.fromEntries(changed.map((f) => [f.name, parseSetting(known, f.name, edits[f.name])]));
  const parsed = parse(rules);
  const problemOf = (name: string) => parsed[name]?.problem ?? serverErrors[name] ?? null;

  function edit(name: string, text: string) {
    setEdits((now) => ({ ...now, [name]: text }));
    setServerErrors(({ [name]: _gone, ...rest }) => rest);
    setSaved(false);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setFailure(null);
    // Typed before the rules arrived: wait for them (without them the API's check still answers)
    const checked = rules ? parsed : parse(await loadRules().catch(() => null));
    const invalid = changed.find((f) => checked[f.name].problem);
    if (invalid) {
      document.getElementById(`setting-${invalid.name}`)?.focus(); // nothing is sent
      return;
    }
    if (changed.length === 0) return;
    setBusy(true);
    try {
      await save(Object.fromEntries(changed.map((f) => [f.name, checked[f.name].value])));
      setEdits({});
      setSaved(true);
      setDeployed(null);
      deployKeys.done(); // a deployment the last offer made ran the settings before this save
    } catch (caught) {
      const error = caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught));
      const field = error.status === 400 ? fieldNamed(error.message) : null;
      if (field) setServerErrors((now) => ({ ...now, [field]: `${error.code}: ${error.message}` }));
      else setFailure(error);
    } finally {
      setBusy(false);
    }
  }

  async function deployNow() {
    setBusy(true);
    setDeployFailure(null);
    try {
      setDeployed(await redeploy(deployKeys.of(null)));
      deployKeys.done();
    } catch (caught) {
      setDeployFailure(caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught)));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className={styles.form} onSubmit={submit} aria-label="Deploy settings" noValidate>
      {FIELDS.map((field) => {
        const problem = problemOf(field.name);
        const errorId = `setting-${field.name}-error`;
        const hintId = `setting-${field.name}-hint`;
        return (
          <div key={field.name} className={styles.field}>
            <label htmlFor={`setting-${field.name}`}>{field.label}</label>
            <input
              id={`setting-${field.name}`}
              name={field.name}
              inputMode={field.numeric ? "decimal" : undefined}
              value={edits[field.name] ?? textOf(service.settings[field.name])}
              onChange={(e) => edit(field.name, e.target.value)}
              disabled={locked}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={problem ? true : undefined}
              aria-describedby={[problem ? errorId : "", field.hint ? hintId : ""].join(" ").trim() || undefined}
            />
            {field.hint && (
              <span id={hintId} className={styles.hint}>
                {field.hint}
              </span>
            )}
            <FieldError id={errorId} text={problem} />
          </div>
        );
      })}
      <div className={styles.actions}>
        <button type="submit" className="primary" disabled={locked || changed.length === 0}>
          {busy ? "Saving…" : "Save"}
        </button>
        {changed.length > 0 && (
          <button type="button" className={styles.button} onClick={() => setEdits({})} disabled={busy}>
            Discard
          </button>
        )}
      </div>
      <ErrorNote error={failure} context="Not saved" />
      {saved && (
        <div className={styles.done} role="status">
          <p>Saved. Settings apply at the next deployment.</p>
          {deployed ? (
            <p>
              Deploying: <Link href={deploymentHref(deployed.id)}>deployment {deployed.id}</Link>
            </p>
          ) : (
            <button type="button" className="primary" onClick={deployNow} disabled={busy || canDeploy === false}>
              Deploy now
            </button>
          )}
          <ErrorNote error={deployFailure} context="Not deployed" />
        </div>
      )}
    </form>
  );
}
