// A service's custom domains (/v1/services/{id}/domains): add one, see the DNS records to create,
// verify it once the TXT record holds the token (only a VERIFIED domain is served), remove it. Each
// error goes beside the form or the domain it concerns.
"use client";

import { useState, type FormEvent } from "react";
import { FieldError } from "@/components/FieldError";
import { api, ApiError } from "@/lib/api";
import styles from "./editing.module.css";

export type Domain = {
  hostname: string;
  status: "PENDING" | "VERIFIED";
  dnsRecords: { type: string; name: string; value: string }[];
  verifiedAt: string | null;
};

const words = (caught: unknown) =>
  caught instanceof ApiError ? `${caught.code}: ${caught.message}` : `NetworkError: ${String(caught)}`;

type Props = { serviceId: string; domains: Domain[]; canManage: boolean | null; changed: () => void };

export function DomainsEditor({ serviceId, domains, canManage, changed }: Props) {
  const base = `/v1/services/${encodeURIComponent(serviceId)}/domains`;
  const [hostname, setHostname] = useState("");
  const [addError, setAddError] = useState<string | null>(null);
  const [rowErrors, setRowErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const locked = canManage === false || busy;

  async function run(key: string | null, call: () => Promise<unknown>) {
    setBusy(true);
    if (key) setRowErrors(({ [key]: _gone, ...rest }) => rest);
    else setAddError(null);
    try {
      await call();
      changed();
      return true;
    } catch (caught) {
      if (key) setRowErrors((now) => ({ ...now, [key]: words(caught) }));
      else setAddError(words(caught));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function add(event: FormEvent) {
    event.preventDefault();
    const name = hostname.trim().toLowerCase();
    if (!name) return setAddError("a hostname is required");
    if (await run(null, () => api(base, { method: "POST", body: { hostname: name } }))) setHostname("");
  }

  const one = (name: string) => `${base}/${encodeURIComponent(name)}`;
  return (
    <>
      {domains.length === 0 ? (
        <p className="muted">No custom domains.</p>
      ) : (
        <ul className="section-list">
          {domains.map((domain) => (
            <li key={domain.hostname} data-domain={domain.hostname}>
              <strong>{domain.hostname}</strong> <span className="status">{domain.status}</span>
              {domain.status === "PENDING" && (
                <>
                  <p className={styles.note}>Create these DNS records, then verify:</p>
                  <ul className={styles.records}>
                    {domain.dnsRecords.map((r) => (
                      <li key={`${r.type} ${r.name}`}>
                        {r.type} {r.name} → {r.value}
                      </li>
                    ))}
                  </ul>
                </>
              )}
              <div className={styles.actions}>
                {domain.status === "PENDING" && (
                  <button type="button" className={styles.button} disabled={locked} aria-label={`Verify ${domain.hostname}`}
                    onClick={() => run(domain.hostname, () => api(`${one(domain.hostname)}/verify`, { method: "POST" }))}>
                    Verify
                  </button>
                )}
                <button type="button" className={styles.button} disabled={locked} aria-label={`Remove ${domain.hostname}`}
                  onClick={() => run(domain.hostname, () => api(one(domain.hostname), { method: "DELETE" }))}>
                  Remove
                </button>
              </div>
              <FieldError id={`domain-error-${domain.hostname}`} text={rowErrors[domain.hostname] ?? null} />
            </li>
          ))}
        </ul>
      )}
      <form className={styles.form} onSubmit={add} aria-label="Add a custom domain" noValidate>
        <div className={`${styles.row} ${styles.inline}`}>
          <div className={styles.field}>
            <label htmlFor="domain-hostname">Custom domain</label>
            <input
              id="domain-hostname"
              value={hostname}
              onChange={(e) => setHostname(e.target.value)}
              disabled={locked}
              placeholder="app.example.com"
              autoComplete="off"
              spellCheck={false}
              aria-invalid={addError ? true : undefined}
              aria-describedby={addError ? "domain-hostname-error" : undefined}
            />
            <FieldError id="domain-hostname-error" text={addError} />
          </div>
          <button type="submit" className={styles.button} disabled={locked}>
            Add domain
          </button>
        </div>
      </form>
    </>
  );
}
