// A deployment status as a word with a colour; the word carries the meaning, not the colour.
const TONE: Record<string, string> = {
  SUCCESS: "ok",
  COMPLETED: "ok",
  FAILED: "bad",
  CRASHED: "bad",
  QUEUED: "busy",
  BUILDING: "busy",
  DEPLOYING: "busy",
};

export function Status({ value }: { value: string | null | undefined }) {
  const status = value ?? "NO DEPLOYMENT";
  return (
    <span className={`status ${TONE[status] ?? "idle"}`} data-status={status}>
      {status}
    </span>
  );
}
