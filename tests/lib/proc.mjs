// What the suites read about a server process from /proc (Linux).

import { readFileSync } from "node:fs";

/** Resident set size of process `pid`, in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}
