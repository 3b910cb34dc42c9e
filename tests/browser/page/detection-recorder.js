// Records the page with rrweb and the console plugin, as the Lucent SDK does, and sends batches
// to POST /api/sdk/replay when the test asks (lucentDetection.flush()). The test can read every
// batch it sent (to re-send them, or send them out of order as another session).
(function () {
  "use strict";

  const params = new URLSearchParams(location.search);
  const api = params.get("api");
  const key = params.get("key");
  const sessionId = params.get("session") || crypto.randomUUID();
  const userId = params.get("user");

  const recorded = [];
  const bodies = []; // the exact JSON text of every batch, by sequence
  let buffer = [];

  rrweb.record({
    emit(event) {
      buffer.push(event);
      recorded.push(event);
    },
    plugins: [rrwebPluginConsoleRecord.getRecordConsolePlugin({ level: ["error", "warn"] })],
  });

  async function send(body) {
    if (!api) return { status: 0 };
    const response = await fetch(api + "/api/sdk/replay", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Lucent-Api-Key": key },
      body: body,
    });
    return { status: response.status, json: await response.json() };
  }

  window.lucentDetection = {
    sessionId: sessionId,
    recorded: recorded,
    bodies: bodies,
    flush: async function () {
      const events = buffer;
      buffer = [];
      const batch = { session_id: sessionId, sequence: bodies.length, events: events };
      if (userId) batch.metadata = { user_id: userId };
      const body = JSON.stringify(batch);
      bodies.push(body);
      return send(body);
    },
  };
})();
