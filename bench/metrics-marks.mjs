import { createInterface } from 'node:readline';

/**
 * Preloaded (`node --import`) into an Authplane server that bench/metrics-proc.ts starts as a child
 * process. It opens and closes measured windows on command, one line on stdin each:
 *   `zero` → starts a window: notes process.cpuUsage() (user + system time of every thread of the
 *            process: the event loop, GC helpers, the libuv pool) and calls process.getegid(), which
 *            resets callgrind's counters when the server runs under
 *            `valgrind --tool=callgrind --zero-before=node::credentials::GetEGid*`;
 *   `dump` → ends it: calls process.getgid() (`--dump-before=node::credentials::GetGid*` writes the
 *            instructions counted since `zero` to a new callgrind.out file) and answers the CPU time
 *            used since `zero`, in µs.
 * Each command answers one line, `@mark zero` / `@mark dump <cpu µs>`, once it has run, so the harness
 * knows the window is open (or closed and written) before it goes on. Authplane calls neither function.
 */
let cpu0 = process.cpuUsage();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'zero') {
    process.getegid();
    cpu0 = process.cpuUsage();
    process.stdout.write('@mark zero\n');
  } else if (cmd === 'dump') {
    const cpu = process.cpuUsage(cpu0);
    process.getgid();
    process.stdout.write(`@mark dump ${cpu.user + cpu.system}\n`);
  }
});
