"use client";

// A deployment: its status and reason, and its build and deploy logs with a search box.

import { Suspense, useState } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { LogView } from "@/components/LogView";
import { Status } from "@/components/Status";
import { api } from "@/lib/api";
import { cacheHits, duration, source, when } from "@/lib/format";
import { serviceHref } from "@/lib/paths";
import type { Deployment } from "@/lib/types";
import { usePolled } from "@/lib/usePolled";

const STREAMS = ["build", "deploy"] as const;

function DeploymentView() {
  const id = useSearchParams().get("id") ?? "";
  const { data, error } = usePolled(
    id ? () => api<{ deployment: Deployment }>(`/v1/deployments/${encodeURIComponent(id)}`) : null,
    id,
  );
  const [stream, setStream] = useState<(typeof STREAMS)[number]>("build");
  const d = data?.deployment;
  return (
    <Shell
      crumbs={[
        { label: "Workspaces", href: "/" },
        { label: "Service", href: d ? serviceHref(d.serviceId) : undefined },
        { label: `Deployment ${d ? source(d) : ""}` },
      ]}
    >
      <h1>Deployment {d ? source(d) : id}</h1>
      <ErrorNote error={error} context={`Could not load deployment ${id}`} />
      {d && (
        <p>
          <Status value={d.status} /> · {when(d.createdAt)} · {duration(d)} · cache: {cacheHits(d)}
          {d.reason && (
            <>
              <br />
              <span className={d.status === "FAILED" || d.status === "CRASHED" ? "error-text" : "muted"}>Reason: {d.reason}</span>
            </>
          )}
        </p>
      )}
      <div className="tabs" role="tablist" aria-label="Log streams">
        {STREAMS.map((name) => (
          <button key={name} type="button" role="tab" aria-selected={stream === name} onClick={() => setStream(name)}>
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
