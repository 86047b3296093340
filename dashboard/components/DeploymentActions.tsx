"use client";

// The buttons that steer deployments (issue 13): Redeploy a service, Roll back to an earlier release
// (a confirm step first, naming the variables the rollback brings back: the API's preview, asked
// before anything is made), Cancel one in progress.
// Each is a real <button>, disabled while its request is in flight. A click sends an Idempotency-Key
// (docs/api.md) that a second click reuses only when the first one's answer never came (a network
// failure: it may have made the deployment), so pressing again then makes nothing twice. An
// API error (409 ReleasePruned, InvalidTransition…) is shown in words beside the button.

import { useRef, useState } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { api, ApiError, submitKeys } from "@/lib/api";
import { ENDED } from "@/lib/format";
import type { Deployment, Service } from "@/lib/types";

type Outcome = { busy: boolean; error: ApiError | null; note: string | null };

// Where an action's outcome is said: beside its button, or (`report`) by the page, because a row's
// button goes away once its deployment moves on (a rollback's release goes live) and the words must stay.
type Report = ((text: string) => void) | undefined;

/** A failed request as the API's error (a network failure has no status: 0). */
function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught));
}

/** Sends `request` with the action's Idempotency-Key: the same key again only after a failure
 * whose answer was lost (a network failure, status 0: the deployment may exist), a new one after
 * any answer of the API's. */
export async function withActionKey<T>(
  keys: ReturnType<typeof submitKeys<string>>,
  request: (key: string) => Promise<T>,
): Promise<T> {
  try {
    const answer = await request(keys.of("click"));
    keys.done();
    return answer;
  } catch (caught) {
    if (asApiError(caught).status !== 0) keys.done();
    throw caught;
  }
}

/** One action's request: at most one in flight (a second click while busy does nothing). Its
 * Idempotency-Key is kept for the next click only when this one's answer was lost. */
function useAction(report?: Report) {
  const [state, setState] = useState<Outcome>({ busy: false, error: null, note: null });
  const inFlight = useRef(false); // state updates are async: a double click could pass `busy`
  const keys = useRef(submitKeys<string>());
  async function run(request: (key: string) => Promise<string | null>) {
    if (inFlight.current) return;
    inFlight.current = true;
    setState({ busy: true, error: null, note: null });
    try {
      const note = await withActionKey(keys.current, request);
      if (note && report) report(note);
      setState({ busy: false, error: null, note: report ? null : note });
    } catch (caught) {
      setState({ busy: false, error: asApiError(caught), note: null });
    } finally {
      inFlight.current = false;
    }
  }
  return { ...state, run };
}

function Note({ text }: { text: string | null }) {
  return text ? (
    <span className="action-note" role="status">
      {text}
    </span>
  ) : null;
}

type Created = { deployment: Deployment; variablesChanged?: string[] | null };

function create(path: string, body: unknown, key: string): Promise<Created> {
  return api<Created>(path, { method: "POST", body, headers: { "Idempotency-Key": key } });
}

export function RedeployButton({ service, report }: { service: Service; report?: Report }) {
  const action = useAction(report);
  const path = `/v1/services/${encodeURIComponent(service.id)}/deployments`;
  return (
    <div className="actions">
      <button
        type="button"
        className="primary"
        disabled={action.busy}
        onClick={() => action.run(async (key) => (await create(path, { redeploy: true }, key), "Redeploy started"))}
      >
        {action.busy ? "Redeploying…" : "Redeploy"}
      </button>
      <Note text={action.note} />
      <ErrorNote error={action.error} context="Redeploy refused" />
    </div>
  );
}

/** What a rollback's answer says about variables (docs/variables.md): the release's own come back. */
export function variablesWarning(changed: string[] | null | undefined): string {
  if (changed === null || changed === undefined) return "it runs that release's own variables";
  if (changed.length === 0) return "its variables are the current ones";
  return `it runs that release's own variables: values of ${changed.join(", ")} differ from the current ones`;
}

/** What a rollback would run, asked before confirming it (GET .../rollback, docs/api.md): the
 * rollback's own release and its `variablesChanged`, null for a caller who may not read variables. */
export type RollbackPreview = { release: { number: number }; variablesChanged: string[] | null };
// The confirm step's preview: both null while it is being asked.
export type PreviewState = { preview: RollbackPreview | null; error: ApiError | null };

export function previewRollback(target: Deployment): Promise<RollbackPreview> {
  const query = new URLSearchParams({ deploymentId: target.id });
  return api<RollbackPreview>(`/v1/services/${encodeURIComponent(target.serviceId)}/rollback?${query}`);
}

/** The confirm step's words about variables, from the preview. */
export function previewWords(version: string, state: PreviewState): string {
  const changed = state.preview?.variablesChanged;
  if (!state.preview && !state.error) return `Checking which variables ${version} brings back…`;
  if (!changed) return `It runs ${version}'s own variables, not the current ones.`; // not told which
  if (changed.length === 0) return `Rolling back to ${version} runs the same variables as now.`;
  return `Rolling back to ${version} brings back older values of: ${changed.join(", ")}`;
}

/** The confirm step. Confirm waits for the preview, so nobody confirms before reading what comes
 * back; it stays off when the preview was refused (a 4xx: the rollback would be refused the same
 * way), not when the API could not be reached (the rollback still answers for itself). It is
 * aria-disabled, not disabled, so it keeps the focus: Enter confirms once the words are there. */
export function RollbackConfirm({
  version,
  state,
  busy,
  onConfirm,
  onKeep,
}: {
  version: string;
  state: PreviewState;
  busy: boolean;
  onConfirm: () => void;
  onKeep: () => void;
}) {
  const { preview, error } = state;
  const waiting = !preview && (!error || (error.status >= 400 && error.status < 500));
  return (
    <>
      <span role="group" aria-label={`Confirm the rollback to ${version}`}>
        <span className="action-note" role="status">
          Roll back to {version}? {previewWords(version, state)}
        </span>{" "}
        {/* focus lands on the confirm button, so Enter confirms and Tab reaches Keep */}
        <button
          type="button"
          className="primary"
          autoFocus
          disabled={busy}
          aria-disabled={waiting || undefined}
          onClick={waiting ? undefined : onConfirm}
        >
          {busy ? "Rolling back…" : `Confirm roll back to ${version}`}
        </button>{" "}
        <button type="button" disabled={busy} onClick={onKeep}>
          Keep the live release
        </button>
      </span>
      <ErrorNote error={error} context={`Could not check the rollback to ${version}`} />
    </>
  );
}

function RollbackButton({ target, report }: { target: Deployment; report: Report }) {
  const action = useAction(report);
  const [check, setCheck] = useState<PreviewState | null>(null); // null: not confirming
  const asked = useRef(0); // the answer to an earlier opening of the confirm step is dropped
  const version = `v${target.releaseNumber}`;
  const path = `/v1/services/${encodeURIComponent(target.serviceId)}/rollback`;
  const open = () => {
    const ask = ++asked.current;
    setCheck({ preview: null, error: null });
    previewRollback(target).then(
      (preview) => {
        if (ask === asked.current) setCheck({ preview, error: null });
      },
      (caught: unknown) => {
        if (ask === asked.current) setCheck({ preview: null, error: asApiError(caught) });
      },
    );
  };
  const close = () => {
    asked.current += 1;
    setCheck(null);
  };
  const confirm = () =>
    action.run(async (key) => {
      const { variablesChanged } = await create(path, { deploymentId: target.id }, key);
      close();
      return `Rollback to ${version} started: ${variablesWarning(variablesChanged)}`;
    });
  return (
    <div className="actions">
      {check ? (
        <RollbackConfirm version={version} state={check} busy={action.busy} onConfirm={confirm} onKeep={close} />
      ) : (
        <button type="button" onClick={open}>
          Roll back to {version}
        </button>
      )}
      <Note text={action.note} />
      <ErrorNote error={action.error} context={`Rollback to ${version} refused`} />
    </div>
  );
}

function CancelButton({ deployment, report }: { deployment: Deployment; report: Report }) {
  const action = useAction(report);
  // POST .../cancel takes no Idempotency-Key: a second cancel is a 409 InvalidTransition (docs/api.md)
  const path = `/v1/deployments/${encodeURIComponent(deployment.id)}/cancel`;
  return (
    <div className="actions">
      <button
        type="button"
        disabled={action.busy}
        onClick={() => action.run(async () => (await api(path, { method: "POST" }), "Cancelled"))}
      >
        {action.busy ? "Cancelling…" : "Cancel"}
      </button>
      <Note text={action.note} />
      <ErrorNote error={action.error} context="Cancel refused" />
    </div>
  );
}

/** A release that once served and is not the live one: what the API accepts to roll back to. */
export function canRollBackTo(d: Deployment, service: Service): boolean {
  const served = d.status === "SUCCESS" || d.status === "REMOVED"; // a failed health check never served
  return !!d.releaseId && d.releaseId !== service.activeReleaseId && served;
}

/** The actions a deployment offers now: Cancel while in progress; Roll back on an earlier release
 * (`rollback`: false on a row whose release a newer row already offers). */
export function DeploymentActions({
  deployment,
  service,
  rollback = true,
  report,
}: {
  deployment: Deployment;
  service: Service;
  rollback?: boolean;
  report?: Report;
}) {
  if (!ENDED.has(deployment.status)) return <CancelButton deployment={deployment} report={report} />;
  if (rollback && canRollBackTo(deployment, service)) return <RollbackButton target={deployment} report={report} />;
  return null;
}

/** DeploymentActions for a page of one deployment (app/deployment): the outcome stays in words
 * beside them after the buttons change. */
export function DeploymentActionsPanel({ deployment, service }: { deployment: Deployment; service: Service }) {
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <div className="actions">
      <DeploymentActions deployment={deployment} service={service} report={setNotice} />
      <span className="action-note" role="status">
        {notice}
      </span>
    </div>
  );
}
