// Says when the page's live updates are down and it polls instead. Fixed at the bottom of the
// window, so its coming and going never moves the page (no layout shift).
"use client";

import { useEffect, useState } from "react";
import { FALLBACK_POLL_MS, liveClient } from "@/lib/liveHooks";

export function LiveNotice() {
  const [down, setDown] = useState(false);
  useEffect(() => liveClient().onState((state) => setDown(state === "down")), []);
  return (
    <div role="status" className="live-notice" hidden={!down}>
      {down ? `Live updates unavailable — refreshing every ${FALLBACK_POLL_MS / 1000} s` : ""}
    </div>
  );
}
