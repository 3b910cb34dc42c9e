// A minimal Lucent browser client, as the SDK does it: the page records itself with rrweb and
// sends batches to POST /api/sdk/replay -- with fetch as JSON, with fetch gzip-compressed by
// CompressionStream, and on pagehide with navigator.sendBeacon (text/plain, ?api_key=).
//
// The page keeps what it recorded and the exact text of every batch it sent, so that
// tests/browser/test_browser.py can compare them with what landed in S3.
(function () {
  "use strict";

  const params = new URLSearchParams(location.search);
  const endpoint = params.get("api") + "/api/sdk/replay";
  const key = params.get("key");
  const sessionId = crypto.randomUUID();

  const recorded = []; // every event rrweb emitted, in order
  const sent = []; // {sequence, transport, body} per batch, body being the exact JSON text
  let buffer = [];
  let sequence = 0;

  rrweb.record({
    emit(event) {
      buffer.push(event);
      recorded.push(event);
    },
  });

  function take(transport) {
    const events = buffer;
    buffer = [];
    const body = JSON.stringify({ session_id: sessionId, sequence: sequence, events: events });
    const batch = { sequence: sequence, transport: transport, body: body, count: events.length };
    sequence += 1;
    sent.push(batch);
    return batch;
  }

  async function gzip(text) {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // What the page's own code can see of a response (CORS decides what is readable).
  async function read(response) {
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (error) {
      json = null;
    }
    return {
      status: response.status,
      json: json,
      text: text,
      retryAfter: response.headers.get("Retry-After"),
      contentType: response.headers.get("Content-Type"),
    };
  }

  async function post(options) {
    const headers = { "Content-Type": options.contentType || "application/json" };
    if (options.key) headers["X-Lucent-Api-Key"] = options.key;
    let body = options.body;
    if (options.gzip) {
      headers["Content-Encoding"] = "gzip";
      body = await gzip(body);
    }
    const url = endpoint + (options.query || "");
    try {
      return await read(await fetch(url, { method: "POST", headers: headers, body: body }));
    } catch (error) {
      // A CORS failure (preflight refused, or a response without Access-Control-Allow-Origin).
      return { status: 0, error: String(error) };
    }
  }

  window.lucent = {
    sessionId: sessionId,
    recorded: recorded,
    sent: sent,
    flushJson: async function () {
      const batch = take("fetch-json");
      return Object.assign({ sequence: batch.sequence }, await post({ key: key, body: batch.body }));
    },
    flushGzip: async function () {
      const batch = take("fetch-gzip");
      return Object.assign(
        { sequence: batch.sequence },
        await post({ key: key, body: batch.body, gzip: true }),
      );
    },
    // For error cases: any key (or none), any body; never touches the recording.
    send: function (options) {
      return post(options);
    },
  };

  window.addEventListener("pagehide", function () {
    const batch = take("beacon");
    const url = endpoint + "?api_key=" + encodeURIComponent(key);
    const queued = navigator.sendBeacon(url, new Blob([batch.body], { type: "text/plain" }));
    // The page is going away: leave the record for the test in this origin's storage.
    localStorage.setItem(
      "lucent-test",
      JSON.stringify({ sessionId: sessionId, recorded: recorded, sent: sent, queued: queued }),
    );
  });
})();
