"use client";

// A service's variables: its own (sealed ones by name only: the API never returns their values),
// edited as staged changes that one deployment applies, and the environment's shared ones, read-only.

import { Suspense, useEffect, useState } from "react";
import { useSearchParams } from "next/navigation";
import { ServiceFrame } from "@/components/ServiceFrame";
import { ErrorNote } from "@/components/ErrorNote";
import { VariablesEditor } from "@/components/VariablesEditor";
import styles from "@/components/editing.module.css";
import { api, ApiError } from "@/lib/api";
import { applyVariables, type Applied } from "@/lib/edits";
import { allows, notAllowed, useAccess } from "@/lib/permissions";
import { loadRules, type Rules } from "@/lib/rules";
import type { Listing, VariablesPatch } from "@/lib/staging";
import type { Environment, Project, Service } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

type Loaded = Listing | ApiError; // a role without read-variables gets 403: said in words, not a blank page

async function listing(path: string): Promise<Loaded> {
  try {
    return await api<Listing>(path);
  } catch (caught) {
    if (caught instanceof ApiError && caught.status === 403) return caught;
    throw caught;
  }
}

async function loadVariables(id: string) {
  const path = `/v1/services/${encodeURIComponent(id)}`;
  const { service } = await api<{ service: Service }>(path);
  const [own, shared, { project, environments }] = await Promise.all([
    listing(`${path}/variables`),
    listing(`/v1/environments/${encodeURIComponent(service.environmentId)}/variables`),
    api<{ project: Project; environments: Environment[] }>(`/v1/projects/${encodeURIComponent(service.projectId)}`),
  ]);
  const environment = environments.find((e) => e.id === service.environmentId)?.name ?? "the environment";
  return { service, own, shared, project, environment };
}

function Shared({ shared, environment }: { shared: Loaded; environment: string }) {
  if (shared instanceof ApiError) return <ErrorNote error={shared} context="Your role may not read the shared variables" />;
  const names = [...Object.keys(shared.variables), ...shared.sealed].sort();
  return (
    <>
      <p className={styles.note}>
        Every service of {environment} sees these; a variable of this service with the same name wins. They are
        read-only here: change them with <code>railyard variables set --shared</code>, and they apply at each
        service&apos;s next deployment.
      </p>
      {names.length === 0 ? (
        <p className="muted">No shared variables.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="skip">Shared variables of {environment}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {names.map((name) => (
                <tr key={name}>
                  <th scope="row" className={styles.cell}>{name}</th>
                  <td className={styles.cell}>
                    {shared.sealed.includes(name) ? (
                      <span className={styles.masked}>sealed — never shown</span>
                    ) : (
                      <span className={styles.value}>{shared.variables[name]}</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function VariablesView() {
  const id = useSearchParams().get("id") ?? "";
  const { data, error } = usePolled(id ? () => loadVariables(id) : null, id);
  const [rules, setRules] = useState<Rules | null>(null);
  const [fresh, setFresh] = useState<Listing | null>(null); // the PATCH's answer, until the next poll
  useEffect(() => {
    loadRules().then(setRules, () => undefined); // without them the API's own checks still answer
  }, []);
  useEffect(() => setFresh(null), [data]);
  const service = data?.service;
  const access = useAccess(service?.projectId ?? null);
  const where = service ? { projectId: service.projectId, environmentId: service.environmentId, serviceId: service.id } : null;
  const canWrite = allows(access, "write-variables", where);

  async function apply(patch: VariablesPatch, idempotencyKey: string): Promise<Applied> {
    const result = await applyVariables(id, patch, idempotencyKey);
    setFresh({ variables: result.variables, sealed: result.sealed });
    return result;
  }

  const own = fresh ?? data?.own;
  return (
    <ServiceFrame id={id} tab="Variables" service={service} project={data?.project} loaded={!!data} error={error}>
      {data && own && (
        <section aria-labelledby="own">
          <h2 id="own">This service&apos;s variables</h2>
          {own instanceof ApiError ? (
            <ErrorNote error={own} context="Your role may not read this service's variables" />
          ) : (
            <>
              {canWrite === false && <p className={styles.note}>{notAllowed("write-variables")}</p>}
              <VariablesEditor current={own} rules={rules} canWrite={canWrite} apply={apply} />
            </>
          )}
        </section>
      )}
      {data && (
        <section aria-labelledby="shared">
          <h2 id="shared">Shared by {data.environment}</h2>
          <Shared shared={data.shared} environment={data.environment} />
        </section>
      )}
    </ServiceFrame>
  );
}

export default function VariablesPage() {
  return (
    <Suspense>
      <VariablesView />
    </Suspense>
  );
}
