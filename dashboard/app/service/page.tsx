"use client";

// A service: its settings at a glance and its deployments (status, commit or upload, who, when,
// duration, cache hits), each linking to its logs; Redeploy, Roll back and Cancel (DeploymentActions).

import Link from "next/link";
import { Suspense, useState } from "react";
import { useSearchParams } from "next/navigation";
import { ServiceFrame } from "@/components/ServiceFrame";
import { DeploymentActions, RedeployButton } from "@/components/DeploymentActions";
import { Status } from "@/components/Status";
import { api } from "@/lib/api";
import { cacheHits, duration, source, when, who } from "@/lib/format";
import { deploymentHref } from "@/lib/paths";
import type { Deployment, Project, Service } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

const HISTORY = 20;

async function loadService(id: string) {
  const path = `/v1/services/${encodeURIComponent(id)}`;
  const [{ service }, { deployments }] = await Promise.all([
    api<{ service: Service }>(path),
    api<{ deployments: Deployment[] }>(`${path}/deployments?limit=${HISTORY}`),
  ]);
  const { project } = await api<{ project: Project }>(`/v1/projects/${encodeURIComponent(service.projectId)}`);
  return { service, deployments, project };
}

function ServiceView() {
  const id = useSearchParams().get("id") ?? "";
  const { data, error } = usePolled(id ? () => loadService(id) : null, id, undefined, (held: Awaited<ReturnType<typeof loadService>> | null) =>
    held && { projectId: held.service.projectId, apply: (same, pushed) => (pushed.serviceId === id ? null : same) },
  );
  const service = data?.service;
  const [notice, setNotice] = useState<string | null>(null); // the last action's outcome, in words
  const offered = new Set<string>(); // releases a newer row already offers to roll back to
  return (
    <ServiceFrame id={id} tab="Deployments" service={service} project={data?.project} loaded={!!data} error={error}>
      {service && (
        <p>
          {service.url ? <a href={service.url}>{service.url}</a> : <span className="muted">No URL ({service.workload})</span>}
          {" · "}
          {service.settings.numReplicas ?? 1} replica(s)
        </p>
      )}
      {data && (
        <section aria-labelledby="deployments">
          <h2 id="deployments">Deployments</h2>
          {data.service.activeReleaseId && <RedeployButton service={data.service} report={setNotice} />}
          <p className="action-note" role="status">
            {notice}
          </p>
          {data.deployments.length === 0 ? (
            <p className="muted">No deployments yet: `railyard up` makes one.</p>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="skip">Newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Status</th>
                    <th scope="col">Source</th>
                    <th scope="col">Who</th>
                    <th scope="col">When</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Build cache</th>
                    <th scope="col">Logs</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {data.deployments.map((d) => {
                    const firstOfRelease = !!d.releaseId && !offered.has(d.releaseId);
                    if (d.releaseId) offered.add(d.releaseId);
                    return (
                      <tr key={d.id}>
                        <td>
                          <Status value={d.status} />
                        </td>
                        <td>{source(d)}</td>
                        <td>{who(d)}</td>
                        <td>
                          <time dateTime={d.createdAt} title={d.createdAt}>
                            {when(d.createdAt)}
                          </time>
                        </td>
                        <td>{duration(d)}</td>
                        <td>{cacheHits(d)}</td>
                        <td>
                          <Link href={deploymentHref(d.id)} aria-label={`Logs of ${source(d)}, ${when(d.createdAt)}`}>
                            Logs
                          </Link>
                        </td>
                        <td>
                          <DeploymentActions deployment={d} service={data.service} rollback={firstOfRelease} report={setNotice} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}
    </ServiceFrame>
  );
}

export default function ServicePage() {
  return (
    <Suspense>
      <ServiceView />
    </Suspense>
  );
}
