// What the suites read about a server process from /proc (Linux).

import { readFile } from "node:fs/promises";

/** Resident set size of process `pid`, in bytes (VmRSS of /proc/<pid>/status). */
export async function rssBytes(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}
