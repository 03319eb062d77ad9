// pm2 process file for the three roles. Start what this machine runs, e.g.:
//   pm2 start examples/pm2/ecosystem.config.js --only resi-miner
//   pm2 save && pm2 startup        # survive reboots
// Secrets (S3 keys, server secret, DB password) belong in the environment of the pm2 daemon or
// in a file you `source` before `pm2 start`, not in this file; every setting is a RESI_* variable
// (docs/configuration.md).
const RESI = process.env.RESI_BIN || "/opt/resi/venv/bin/resi";
const WORK = process.env.RESI_HOME || "/var/lib/resi";

const common = {
  interpreter: "none", // `resi` is a console script, not a node program
  autorestart: true,
  restart_delay: 5000,
  kill_timeout: 30000, // SIGTERM first; resi shuts down cleanly
  time: true,
  merge_logs: true,
};

module.exports = {
  apps: [
    {
      ...common,
      name: "resi-api",
      script: RESI,
      args: ["serve-api", "--host", "127.0.0.1", "--port", "8001"],
      cwd: WORK,
      env: {
        RESI_NETWORK: "finney",
        RESI_NETUID: "46",
        RESI_LOG_JSON: "true",
        // RESI_DB_URL, RESI_SECRET, RESI_S3_* come from the environment pm2 was started in.
      },
    },
    {
      ...common,
      name: "resi-miner",
      script: RESI,
      args: ["mine", "--workdir", `${WORK}/miner`, "--json"],
      cwd: WORK,
      env: {
        RESI_WALLET_NAME: "miner",
        RESI_WALLET_HOTKEY: "default",
        RESI_API_URL: "https://api.example-subnet.org",
        RESI_SOURCE: "zillow",
        RESI_LOG_JSON: "true",
        // RESI_PROXIES: "http://user:pass@proxy1:8080,http://user:pass@proxy2:8080",
      },
    },
    {
      ...common,
      name: "resi-validator",
      script: RESI,
      args: ["validate", "--workdir", `${WORK}/validator`, "--json"],
      cwd: WORK,
      kill_timeout: 60000,
      env: {
        RESI_WALLET_NAME: "validator",
        RESI_WALLET_HOTKEY: "default",
        RESI_API_URL: "https://api.example-subnet.org",
        RESI_NETWORK: "finney",
        RESI_NETUID: "46",
        RESI_SOURCE: "zillow",
        RESI_WEIGHTS_INTERVAL: "360",
        RESI_LOG_JSON: "true",
      },
    },
  ],
};
