// An inngest-js (v4) app for tests/service/test_devserver_js.py: one function per step tool.
// Env: INNGEST_DEV=1, INNGEST_BASE_URL (the dev server), APP_PORT. GET /stats tells what ran.
import http from "node:http";
import { Inngest, NonRetriableError, RetryAfterError } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: "js-app" });
const requests = {};       // fnId -> execution requests received
const effects = {};        // "<fn>:<step>" -> times that step's body ran
const times = {};          // "<fn>:<step>" -> when each attempt ran (ms)
const effect = (key) => {
  effects[key] = (effects[key] || 0) + 1;
  (times[key] ||= []).push(Date.now());
  return effects[key];
};
const fn = (id, handler, options = {}) =>
  inngest.createFunction({ id, triggers: [{ event: `js/${id}` }], retries: 0, ...options }, handler);

const child = fn("child", async ({ event }) => {
  if (event.data.fail) throw new NonRetriableError("child refused");
  return { doubled: event.data.n * 2 };
});

const functions = [
  child,
  fn("steps", async ({ step, event }) => {
    effect("steps:body");
    const a = await step.run("a", () => { effect("steps:a"); return { n: event.data.n, nil: null }; });
    const b = await step.run("b", () => { effect("steps:b"); return a.n + 1; });
    return { a, b };
  }),
  fn("sleeper", async ({ step }) => {
    const before = await step.run("before", () => Date.now());
    await step.sleep("nap", "1s");
    return { slept_ms: (await step.run("after", () => Date.now())) - before };
  }),
  fn("waiter", async ({ step }) => {
    const got = await step.waitForEvent("approval", { event: "js/approved", match: "data.id", timeout: "30s" });
    return got && { id: got.id, data: got.data };
  }),
  fn("signaled", async ({ step, event }) =>
    step.waitForSignal("sig", { signal: event.data.signal, timeout: "30s" })),
  fn("invoker", async ({ step, event }) => {
    try {
      return await step.invoke("call", { function: child, data: { n: 21, fail: !!event.data.fail } });
    } catch (err) {
      return { caught: err.name, message: err.message };
    }
  }),
  fn("parallel", async ({ step }) => {
    const parts = await Promise.all([1, 2, 3].map((i) => step.run(`p${i}`, () => { effect(`parallel:p${i}`); return i; })));
    return { parts, sum: await step.run("sum", () => { effect("parallel:sum"); return parts[0] + parts[1] + parts[2]; }) };
  }),
  fn("sender", async ({ step }) =>
    step.sendEvent("notify", [1, 2].map((k) => ({ name: "js/notified", data: { k } })))),
  fn("notified", async ({ event }) => ({ k: event.data.k })),
  fn("retried", async ({ step }) => step.run("flaky", () => {
    if (effect("retried:flaky") === 1) throw new RetryAfterError("come back in a second", "1s");
    return "second time lucky";
  }), { retries: 2 }),
  fn("refused", async ({ step }) => {
    await step.run("refuse", () => { effect("refused:refuse"); throw new NonRetriableError("never"); });
  }, { retries: 3 }),
];

const handler = serve({ client: inngest, functions });
http.createServer((req, res) => {
  if (req.url === "/stats") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ requests, effects, times }));
    return;
  }
  if (req.method === "POST") {
    const fnId = new URL(req.url, "http://app").searchParams.get("fnId");
    requests[fnId] = (requests[fnId] || 0) + 1;
  }
  handler(req, res);
}).listen(Number(process.env.APP_PORT), "127.0.0.1", () => console.log("listening"));
