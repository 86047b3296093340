"use client";

// A deployment: its status and reason, and its build and deploy logs with a search box.

import { Suspense, useState } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { DeploymentActionsPanel } from "@/components/DeploymentActions";
import { ErrorNote } from "@/components/ErrorNote";
import { LogView } from "@/components/LogView";
import { Status } from "@/components/Status";
import { api } from "@/lib/api";
import { cacheHits, duration, source, when } from "@/lib/format";
import { projectHref, serviceHref } from "@/lib/paths";
import type { LiveStatus } from "@/lib/live";
import type { Deployment, Project, Service } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

const STREAMS = ["build", "deploy"] as const;

async function loadDeployment(id: string) {
  const { deployment } = await api<{ deployment: Deployment }>(`/v1/deployments/${encodeURIComponent(id)}`);
  const { service } = await api<{ service: Service }>(`/v1/services/${encodeURIComponent(deployment.serviceId)}`);
  const { project } = await api<{ project: Project }>(`/v1/projects/${encodeURIComponent(service.projectId)}`);
  return { deployment, service, project };
}

type Loaded = Awaited<ReturnType<typeof loadDeployment>>;

// A pushed status moves the badge at once, without reading the deployment again.
function withStatus(data: Loaded, pushed: LiveStatus): Loaded {
  const { status, reason, updatedAt } = pushed;
  // a push older than what was read (it was on its way while the read answered) changes nothing
  if (updatedAt && data.deployment.updatedAt && updatedAt < data.deployment.updatedAt) return data;
  return { ...data, deployment: { ...data.deployment, status, reason, updatedAt } };
}

function DeploymentView() {
  const id = useSearchParams().get("id") ?? "";
  const { data, error } = usePolled(id ? () => loadDeployment(id) : null, id, undefined, {
    deploymentId: id,
    apply: withStatus,
  });
  const [stream, setStream] = useState<(typeof STREAMS)[number]>("build");
  const d = data?.deployment;
  return (
    <Shell
      // the trail appears whole once loaded: placeholders of other widths would shift it
      crumbs={[
        { label: "Workspaces", href: "/" },
        ...(data
          ? [
              { label: data.project.name, href: projectHref(data.project.id) },
              { label: data.service.name, href: serviceHref(data.deployment.serviceId) },
              { label: `Deployment ${source(data.deployment)}` },
            ]
          : []),
      ]}
    >
      <h1>Deployment {d ? source(d) : id}</h1>
      <ErrorNote error={error} context={`Could not load deployment ${id}`} />
      {/* Each fact keeps its width as it changes (the cache, last, may grow), and both lines are
          there before the deployment loads, so neither loading nor a live status moves anything. */}
      <p className="deployment-facts">
        {d ? (
          <>
            <Status value={d.status} /> <span className="fact-when">· {when(d.createdAt)}</span>{" "}
            <span className="fact-duration">· {duration(d)}</span> <span>· cache: {cacheHits(d)}</span>
          </>
        ) : (
          "\u00a0"
        )}
      </p>
      <p className={`deployment-reason ${d?.status === "FAILED" || d?.status === "CRASHED" ? "error-text" : "muted"}`}>
        {d?.reason ? `Reason: ${d.reason}` : "\u00a0"}
      </p>
      {/* The row's room is kept before the deployment loads and while its buttons come and go
          (Cancel ends with the deployment), so the logs below never move. */}
      <div className="deployment-actions">{d && data && <DeploymentActionsPanel deployment={d} service={data.service} />}</div>
      <div className="tabs log-tabs" role="group" aria-label="Log streams">
        {STREAMS.map((name) => (
          <button key={name} type="button" aria-pressed={stream === name} onClick={() => setStream(name)}>
            {name === "build" ? "Build logs" : "Deploy logs"}
          </button>
        ))}
      </div>
      {id && <LogView key={stream} deploymentId={id} stream={stream} />}
    </Shell>
  );
}

export default function DeploymentPage() {
  return (
    <Suspense>
      <DeploymentView />
    </Suspense>
  );
}
