// The operators' dashboard: plain JavaScript, no build step. Every number comes from the
// JSON API (/api/...), called with the session cookie; changes carry the CSRF token
// (from the studio_csrf cookie) in X-CSRF-Token. No credential is kept by this script.
"use strict";

(function () {
  const body = document.body;
  const cfg = {
    view: body.dataset.view, timezone: body.dataset.timezone,
    slotMinutes: Number(body.dataset.slotMinutes),
    opens: body.dataset.opens, closes: body.dataset.closes,
    managerRefundLimit: Number(body.dataset.managerRefundLimit),
  };
  const app = document.getElementById("app");
  const dialog = document.getElementById("dialog");

  // --- words ------------------------------------------------------------------------------
  // gateway/static/words/admin.json, put in the page by the server
  const WORDS = Studio.pageWords();
  let lang = localStorage.getItem("studio.lang") === "en" ? "en" : "ru";

  const t = Studio.words(WORDS, () => lang);
  const { el, newKey, addDays, weekdayOf, mondayOf, minutesOf, clockOf } = Studio;

  // --- the API ----------------------------------------------------------------------------
  function cookie(name) {
    const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  async function call(method, path, options) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (options && options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (method !== "GET") {
      headers["X-CSRF-Token"] = cookie("studio_csrf");
      headers["Idempotency-Key"] = (options && options.key) || newKey();
    }
    let answer;
    try {
      answer = await fetch(path, init);
    } catch (error) {
      return { status: 0, data: { message: t("network") } };
    }
    const data = (answer.headers.get("Content-Type") || "").includes("json")
      ? await answer.json() : await answer.text();
    if (answer.status === 401 && cfg.view === "dashboard") {
      window.location.assign("/admin/sign-in");
    }
    return { status: answer.status, data };
  }

  async function must(path) {
    const answer = await call("GET", path);
    if (answer.status !== 200) throw new Error(apiReason(answer.data));
    return answer.data;
  }

  async function allPages(path) {
    let items = [], cursor = null;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const page = await must(path + (cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""));
      items = items.concat(page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  function apiReason(data) {
    if (!data || typeof data !== "object") return String(data || "");
    const fields = Object.entries(data.details || {})
      .filter(([, messages]) => Array.isArray(messages))
      .map(([field, messages]) => `${field}: ${messages.join("; ")}`);
    return [data.message, ...fields].filter(Boolean).join(" ");
  }

  // --- money and time -----------------------------------------------------------------------
  function money(kopecks) { return Studio.money(kopecks, lang); }
  function studioToday() { return Studio.today(cfg.timezone); }
  // The API gives times in the studio's zone with their offset: the text is the local time.
  function localDay(iso) { return iso.slice(0, 10); }
  function localMinutes(iso) { return minutesOf(iso.slice(11, 16)); }
  function when(booking) {
    return `${localDay(booking.start)} ${booking.start.slice(11, 16)}–${booking.end.slice(11, 16)}`;
  }
  function stamp(iso) {
    return iso ? new Intl.DateTimeFormat(lang === "ru" ? "ru-RU" : "en-GB", {
      timeZone: cfg.timezone, dateStyle: "short", timeStyle: "medium" }).format(new Date(iso)) : "";
  }
  function dayLabel(day) {
    return new Intl.DateTimeFormat(lang === "ru" ? "ru-RU" : "en-GB", {
      timeZone: "UTC", weekday: "long", day: "numeric", month: "long" })
      .format(new Date(day + "T12:00:00Z"));
  }

  function statusKey(booking) {
    if (booking.status === "pending_payment") return "held";
    if (booking.status === "confirmed") return booking.remaining_due === 0 ? "paid" : "confirmed";
    if (booking.status === "completed") return "paid";
    return booking.status;
  }

  function holdText(booking) {
    const left = Math.round((new Date(booking.hold_expires_at) - Date.now()) / 1000);
    if (left <= 0) return t("holdOver");
    return t("holdLeft", { left: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` });
  }

  // --- sign-in ------------------------------------------------------------------------------
  function renderSignIn() {
    const error = el("p", { class: "error", role: "alert" });
    const form = el("form", { class: "card signin", id: "sign-in-form" },
      el("h1", { text: t("signInTitle") }),
      el("label", { for: "name", text: t("name") }),
      el("input", { id: "name", name: "name", autocomplete: "username" }),
      el("label", { for: "password", text: t("password") }),
      el("input", { id: "password", name: "password", type: "password",
                    autocomplete: "current-password" }),
      el("p", { class: "muted", text: t("orToken") }),
      el("label", { for: "token", text: t("token") }),
      el("input", { id: "token", name: "token", type: "password", autocomplete: "off" }),
      error,
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit",
                                                     text: t("signIn") })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form));
      const credentials = values.token ? { token: values.token }
        : { name: values.name, password: values.password };
      const answer = await call("POST", "/api/admin/session", { body: credentials });
      if (answer.status === 200) { window.location.assign("/admin/"); return; }
      error.textContent = answer.status === 429
        ? t("tooMany", { s: answer.data.details.retry_after })
        : answer.status === 401 ? t("signInRefused") : apiReason(answer.data);
      form.querySelector("#password").value = "";
      form.querySelector("#token").value = "";
    });
    app.replaceChildren(form);
  }

  // --- the schedule -------------------------------------------------------------------------
  const state = { halls: [], bookings: [], route: null, live: false, me: null, notice: null };
  const ROW_MINUTES = 15;

  function route() {
    const hash = window.location.hash.slice(1);
    const [name, value = ""] = hash.split("=");
    if (name === "booking" && value) return { view: "booking", id: value };
    if (name === "audit") return { view: "audit" };
    if (name === "problems") return { view: "problems" };
    if (name === "halls") return { view: "halls", id: value };
    if (name === "reports") {
      const [from, to] = value.split("/");
      return { view: "reports", from, to };
    }
    if (name === "week") {
      const [hallId, day] = value.split("/");
      return { view: "week", hallId: Number(hallId), day: day || studioToday() };
    }
    return { view: "day", day: /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : studioToday() };
  }

  function go(hash) {
    if (window.location.hash === hash) show(); else window.location.hash = hash;
  }

  function span(bookings) {
    // From the earliest opening (or booking) to the latest closing, on the quarter hour.
    let from = minutesOf(cfg.opens), to = minutesOf(cfg.closes);
    for (const b of bookings) {
      from = Math.min(from, localMinutes(b.start));
      const end = localDay(b.end) === localDay(b.start) ? localMinutes(b.end) : 24 * 60;
      to = Math.max(to, end);
    }
    return [Math.floor(from / 60) * 60, Math.min(24 * 60, Math.ceil(to / 60) * 60)];
  }

  function block(booking, from) {
    const key = statusKey(booking);
    const start = localMinutes(booking.start);
    const end = localDay(booking.end) === localDay(booking.start) ? localMinutes(booking.end) : 24 * 60;
    const node = el("button", {
      type: "button", class: `block status-${key}`, "data-booking-id": booking.id,
      "data-status": key, title: `${booking.customer.name} · ${t("status")[key]}`,
      onclick: () => go(`#booking=${booking.id}`) },
      el("span", { class: "name", text: booking.customer.name }),
      el("span", { text: `${booking.start.slice(11, 16)}–${booking.end.slice(11, 16)} · ${t("status")[key]}` }),
      el("span", { class: "money", text: t("paidDue", { paid: money(booking.amount_paid),
                                                       due: money(booking.remaining_due) }) }),
      key === "held" ? el("span", { class: "countdown", "data-hold": booking.hold_expires_at,
                                    text: holdText(booking) }) : null);
    const row = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--row")) * 16 || 17.6;
    node.style.top = `${((start - from) / ROW_MINUTES) * row}px`;
    node.style.height = `${Math.max(1, (end - start) / ROW_MINUTES) * row - 2}px`;
    return node;
  }

  // A closure (block) in a day's column: clipped to that day.
  function closureBlock(closure, day, from) {
    const start = localDay(closure.start) < day ? 0 : localMinutes(closure.start);
    const end = localDay(closure.end) > day ? 24 * 60 : localMinutes(closure.end);
    const canChange = state.me && state.me.role !== "viewer";
    const node = el("div", { class: "block closure", "data-block-id": closure.id,
                             title: `${closure.reason} · ${t("closedBy", { who: closure.created_by || "—" })}` },
      el("span", { class: "name", text: `${t("closed")}: ${closure.reason}` }),
      el("span", { text: `${closure.start.slice(11, 16)}–${closure.end.slice(11, 16)}` }),
      canChange ? el("button", { type: "button", class: "open-again", text: t("openAgain"),
        onclick: () => ask(t("openAgainQ"), [],
          () => call("DELETE", `/api/admin/blocks/${closure.id}`)) }) : null);
    const row = parseFloat(getComputedStyle(document.documentElement).getPropertyValue("--row")) * 16 || 17.6;
    const top = Math.max(start, from);
    node.style.top = `${((top - from) / ROW_MINUTES) * row}px`;
    node.style.height = `${Math.max(1, (end - top) / ROW_MINUTES) * row - 2}px`;
    return node;
  }

  function grid(columns, bookings, closures = []) {
    const [from, to] = span(bookings);
    const rows = (to - from) / ROW_MINUTES;
    const node = el("div", { class: "grid", id: "schedule" });
    node.style.gridTemplateColumns = `4rem repeat(${columns.length}, minmax(9rem, 1fr))`;
    node.append(el("div", { class: "head" }));
    for (const column of columns) node.append(el("div", { class: "head" }, column.label));
    const times = el("div", { class: "times" });
    for (let i = 0; i < rows; i++) {
      const minute = from + i * ROW_MINUTES;
      times.append(el("div", { text: minute % 60 === 0 ? clockOf(minute) : "" }));
    }
    node.append(times);
    for (const column of columns) {
      const col = el("div", { class: "column", "data-column": column.key });
      for (let i = 0; i < rows; i++) {
        col.append(el("div", { class: (from + i * ROW_MINUTES) % 60 === 0 ? "row hour" : "row" }));
      }
      for (const closure of closures.filter(column.hasClosure || (() => false))) {
        col.append(closureBlock(closure, column.day, from));
      }
      for (const booking of bookings.filter(column.has)) col.append(block(booking, from));
      if (column.slot && state.me && state.me.role !== "viewer") {
        col.addEventListener("click", (event) => {
          if (event.target.closest(".block")) return;   // a booking or a closure
          const row = event.target.closest(".row");
          if (!row) return;
          const index = Array.prototype.indexOf.call(col.querySelectorAll(".row"), row);
          newBooking(column.slot, from + index * ROW_MINUTES);
        });
      }
      node.append(col);
    }
    return node;
  }

  function legend() {
    return el("div", { class: "legend" }, ["held", "confirmed", "paid", "cancelled", "expired"]
      .map((key) => el("span", { class: `status-${key}`, text: t("status")[key] })));
  }

  function liveBadge() {
    return el("span", { id: "live", class: state.live ? "live" : "live off",
                        text: state.live ? t("liveOn") : t("liveOff") });
  }

  async function renderDay(r) {
    const [halls, bookings, closures, special] = await Promise.all([
      must("/api/halls"),
      allPages(`/api/bookings?date_from=${r.day}&date_to=${r.day}&limit=200`),
      must(`/api/admin/blocks?date_from=${r.day}&date_to=${r.day}`),
      must(`/api/admin/special-days?date_from=${r.day}&date_to=${r.day}`)]);
    if (r.stale()) return;
    state.halls = halls;
    const canChange = state.me && state.me.role !== "viewer";
    const toolbar = el("div", { class: "toolbar" },
      el("button", { type: "button", onclick: () => go(`#day=${addDays(r.day, -1)}`), text: t("prev") }),
      el("button", { type: "button", onclick: () => go(`#day=${studioToday()}`), text: t("today") }),
      el("button", { type: "button", onclick: () => go(`#day=${addDays(r.day, 1)}`), text: t("next") }),
      el("span", { class: "title", id: "schedule-title", "data-day": r.day, text: dayLabel(r.day) }),
      canChange ? el("button", { type: "button", id: "close-time", text: t("closeTime"),
                                 onclick: () => closeTime(halls, r.day) }) : null,
      canChange ? el("button", { type: "button", id: "day-hours", text: t("dayHours"),
                                 onclick: () => dayHours(halls, r.day) }) : null,
      liveBadge(), legend());
    const specials = special.items.map((d) => el("p", { class: "special-day", "data-hall-id": d.hall_id ?? "" },
      `${d.hall_id ? (halls.find((h) => h.id === d.hall_id) || {}).name + ": " : ""}` +
      t("specialDay", { hours: d.hours ? d.hours.join("–") : t("closedAllDay") }) + (d.note ? ` (${d.note})` : ""),
      canChange ? el("button", { type: "button", class: "revert", text: t("revert"),
        onclick: () => ask(t("revert") + "?", [], () => call("DELETE",
          `/api/admin/special-days/${r.day}${d.hall_id ? `?hall_id=${d.hall_id}` : ""}`)) }) : null));
    if (!halls.length) { paint(toolbar, el("p", { text: t("noHalls") })); return; }
    const columns = halls.map((hall) => ({
      key: String(hall.id),
      label: el("button", { type: "button", title: t("week"),
                            onclick: () => go(`#week=${hall.id}/${r.day}`), text: hall.name }),
      has: (b) => b.hall_id === hall.id,
      hasClosure: (c) => c.hall_id === hall.id,
      day: r.day,
      slot: { hall, day: r.day },
    }));
    paint(toolbar, ...specials, grid(columns, bookings, closures.items));
  }

  async function renderWeek(r) {
    const monday = mondayOf(r.day), sunday = addDays(monday, 6);
    const [halls, bookings, closures] = await Promise.all([
      must("/api/halls"),
      allPages(`/api/bookings?hall_id=${r.hallId}&date_from=${monday}&date_to=${sunday}&limit=200`),
      must(`/api/admin/blocks?hall_id=${r.hallId}&date_from=${monday}&date_to=${sunday}`)]);
    if (r.stale()) return;
    const hall = halls.find((h) => h.id === r.hallId) || { id: r.hallId, name: `#${r.hallId}` };
    const toolbar = el("div", { class: "toolbar" },
      el("button", { type: "button", onclick: () => go(`#week=${r.hallId}/${addDays(monday, -7)}`), text: t("prev") }),
      el("button", { type: "button", onclick: () => go(`#day=${r.day}`), text: t("day") }),
      el("button", { type: "button", onclick: () => go(`#week=${r.hallId}/${addDays(monday, 7)}`), text: t("next") }),
      el("span", { class: "title", id: "schedule-title", text: `${hall.name}: ${monday} – ${sunday}` }),
      liveBadge(), legend());
    const columns = [0, 1, 2, 3, 4, 5, 6].map((n) => {
      const day = addDays(monday, n);
      return { key: day, label: el("button", { type: "button", onclick: () => go(`#day=${day}`),
                                               text: `${t("weekdays")[n]} ${day.slice(8)}.${day.slice(5, 7)}` }),
               has: (b) => localDay(b.start) === day,
               hasClosure: (c) => localDay(c.start) <= day && (localDay(c.end) > day ||
                 (localDay(c.end) === day && c.end.slice(11, 16) !== "00:00")),
               day, slot: { hall, day } };
    });
    paint(toolbar, grid(columns, bookings, closures.items));
  }

  // --- the booking card ---------------------------------------------------------------------
  function table(headers, rows) {
    if (!rows.length) return el("p", { class: "muted", text: t("none") });
    return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) =>
        c instanceof Node ? el("td", {}, c) : el("td", { text: c ?? "" }))))));
  }

  async function renderBooking(r) {
    const id = encodeURIComponent(r.id);
    const [booking, payments, notes, chain, trail] = await Promise.all([
      must(`/api/bookings/${id}`), must(`/api/payments?booking_id=${id}`),
      must(`/api/notifications?booking_id=${id}&limit=100`),
      must(`/api/integrations/bookings/${id}/events`),
      must(`/api/admin/audit?booking_id=${id}&limit=100`)]);
    if (r.stale()) return;
    const key = statusKey(booking);
    const customer = booking.customer || {};
    const active = booking.status === "pending_payment" || booking.status === "confirmed";
    const facts = el("dl", { class: "facts" },
      ...[[t("statusLabel"), el("span", { id: "booking-status", "data-status": key,
                                          text: t("status")[key] })],
          [t("customer"), customer.name], [t("phone"), customer.phone],
          [t("email"), customer.email], [t("telegram"), customer.telegram_chat_id],
          [t("hall"), booking.hall_name], [t("when"), when(booking)],
          [t("price"), money(booking.price_total)], [t("prepayment"), money(booking.prepayment_amount)],
          [t("paid"), el("span", { id: "booking-paid", text: money(booking.amount_paid) })],
          active ? [t("due"), money(booking.remaining_due)] : null,
          booking.refund_due !== null ? [t("refundDue"), el("span", { id: "booking-refund-due",
                                                                     text: money(booking.refund_due) })] : null,
          booking.comment ? [t("comment"), booking.comment] : null,
          key === "held" ? ["", el("span", { class: "countdown", "data-hold": booking.hold_expires_at,
                                             text: holdText(booking) })] : null]
        .filter((pair) => pair && pair[1] !== undefined && pair[1] !== null && pair[1] !== "")
        .flatMap(([name, value]) => [el("dt", { text: name }), el("dd", {}, value)]));
    const canRole = state.me && state.me.role !== "viewer";
    const actions = el("div", { class: "actions" },
      active && canRole && booking.remaining_due > 0 ? el("button", { type: "button", class: "primary",
        id: "confirm-desk", text: t("confirmDesk"), onclick: () => confirmAtDesk(booking) }) : null,
      active && canRole ? el("button", { type: "button", id: "move-booking", text: t("move"),
        onclick: () => moveBooking(booking) }) : null,
      active && canRole ? el("button", { type: "button", class: "danger", id: "cancel-booking",
        text: t("cancel"), onclick: () => cancelBooking(booking) }) : null,
      canRole ? el("button", { type: "button", id: "resend", text: t("resend"),
        onclick: () => resend(booking) }) : null);
    const paymentRows = payments.items.map((p) => [p.kind, money(p.amount), p.gateway, p.status,
      money(p.refunded_amount), stamp(p.created_at),
      canRole && p.status === "succeeded" && p.refunded_amount < p.amount
        ? el("button", { type: "button", class: "refund", text: t("refundPart"),
                         onclick: () => refundPart(booking, p) }) : ""]).concat(
      (booking.desk_payments || []).map((d) => [t("deskPayment"), money(d.amount), t("desk"),
        t("deskTaken"), "", stamp(d.taken_at), ""]));
    const refundRows = payments.items.flatMap((p) => (p.refunds || []).map((f) =>
      [p.gateway, money(f.amount), f.status, f.reason, stamp(f.created_at)]));
    paint(
      el("div", { class: "toolbar" },
        el("button", { type: "button", text: t("back"), onclick: () => go(`#day=${localDay(booking.start)}`) }),
        el("h1", { text: t("bookingTitle", { id: booking.id.slice(0, 8) }) }), liveBadge()),
      el("div", { class: "booking" },
        el("section", { class: "card" }, facts, actions),
        el("section", {},
          el("h2", { text: t("payments") }),
          el("div", { id: "payments" },
            table([t("kind"), t("amount"), t("provider"), t("statusLabel"), t("refunded"), t("created"), ""], paymentRows)),
          el("h2", { text: t("refunds") }),
          el("div", { id: "refunds" }, table([t("provider"), t("amount"), t("statusLabel"), t("reason"), t("created")], refundRows)),
          el("h2", { text: t("notifications") }),
          table([t("channel"), t("recipient"), t("template"), t("statusLabel"), t("error"), t("created")],
            notes.items.map((n) => [n.channel, n.recipient, n.template, n.status, n.last_error, stamp(n.created_at)])),
          el("h2", { text: t("chain") }),
          table([t("at"), t("type"), t("statusLabel"), t("outcome")],
            chain.items.map((e) => [stamp(e.occurred_at), e.type, e.status, e.outcome])),
          el("h2", { text: t("trail") }),
          table([t("at"), t("who"), t("what"), t("outcome"), t("ip")],
            trail.items.map((a) => [stamp(a.at), a.operator, a.action, a.outcome, a.ip])))));
  }

  // A confirmation dialog with optional fields; `act(values)` answers {status, data}.
  function ask(question, fields, act) {
    const error = el("p", { class: "error", role: "alert" });
    const form = el("form", { method: "dialog" },
      el("p", { text: question }),
      fields.map((f) => [el("label", { for: `f-${f.name}`, text: f.label }),
        f.options ? el("select", { id: `f-${f.name}`, name: f.name },
          f.options.map(([value, label]) => el("option", { value, text: label })))
          : el("input", { id: `f-${f.name}`, name: f.name, value: f.value ?? "", type: f.type || "text",
                          inputmode: f.type === "number" ? "decimal" : null })]),
      error,
      el("div", { class: "actions" },
        el("button", { type: "button", text: t("close"), onclick: () => dialog.close() }),
        el("button", { type: "submit", class: "primary", id: "dialog-ok", text: t("ok") })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await act(Object.fromEntries(new FormData(form)));
      if (answer.status >= 200 && answer.status < 300) {
        dialog.close();
        if (answer.message) notice(answer.message);
        show();
      } else {
        error.textContent = t("refused", { reason: apiReason(answer.data) });
      }
    });
    dialog.replaceChildren(form);
    dialog.showModal();
  }

  // What an action answered stays on its page across the repaints that follow (the card is
  // drawn again at once, and again when the live event of the change arrives), until the
  // operator goes elsewhere.
  function notice(text) {
    state.notice = { text, hash: window.location.hash };
    placeNotice();
  }

  function placeNotice() {
    document.getElementById("notice")?.remove();
    if (state.notice && state.notice.hash !== window.location.hash) state.notice = null;
    if (state.notice) app.prepend(el("p", { class: "card", id: "notice", role: "status",
                                            text: state.notice.text }));
  }

  // The page's content, drawn anew.
  function paint(...children) {
    app.replaceChildren(...children);
    placeNotice();
  }

  function kopecks(rubles) { return Math.round(Number(String(rubles).replace(",", ".")) * 100); }

  function confirmAtDesk(booking) {
    ask(t("confirmDeskQ", { amount: money(booking.remaining_due) }),
      [{ name: "amount", label: t("amountRub"), type: "number", value: booking.remaining_due / 100 }],
      (v) => call("POST", `/api/bookings/${booking.id}/confirm`, { body: { amount: kopecks(v.amount) } }));
  }

  function cancelBooking(booking) {
    ask(t("cancelQ", { amount: money(booking.amount_paid) }),
      [{ name: "reason", label: t("reason") }],
      async (v) => {
        const answer = await call("DELETE", `/api/bookings/${booking.id}`, { body: { reason: v.reason || null } });
        if (answer.status === 200) answer.message = t("cancelled", { amount: money(answer.data.refund_due || 0) });
        return answer;
      });
  }

  async function moveBooking(booking) {
    const halls = await must("/api/halls");
    const own = halls.filter((h) => h.id === booking.hall_id);
    ask(t("moveQ"), [
      { name: "hall_id", label: t("hall"), options: own.concat(halls.filter((h) => h.id !== booking.hall_id))
          .map((h) => [String(h.id), h.name]) },
      { name: "date", label: t("moveDate"), type: "date", value: localDay(booking.start) },
      { name: "start", label: t("moveStart"), type: "time", value: booking.start.slice(11, 16) },
      { name: "end", label: t("moveEnd"), type: "time", value: booking.end.slice(11, 16) },
      { name: "keep_price", label: t("priceLabel"), options: Object.entries(t("priceOptions")) },
      { name: "reason", label: t("reason") }],
      async (v) => {
        const answer = await call("POST", `/api/bookings/${booking.id}/reschedule`, { body: {
          hall_id: Number(v.hall_id), start: `${v.date}T${v.start}`, end: `${v.date}T${v.end}`,
          keep_price: v.keep_price === "true", reason: v.reason || null } });
        if (answer.status === 200) {
          answer.message = t("moved", { when: when(answer.data), price: money(answer.data.price_total),
                                        refund: money(answer.data.refund_due || 0) });
        }
        return answer;
      });
  }

  function refundPart(booking, payment) {
    const left = payment.amount - payment.refunded_amount;
    const limit = state.me.role === "manager" ? Math.min(left, cfg.managerRefundLimit) : left;
    ask(t("refundQ", { id: payment.id.slice(0, 8) }) +
        (state.me.role === "manager" ? " " + t("refundLimit", { amount: money(cfg.managerRefundLimit) }) : ""),
      [{ name: "amount", label: t("amountRub"), type: "number", value: limit / 100 },
       { name: "reason", label: t("reason") }],
      (v) => call("POST", `/api/payments/${payment.id}/refund`,
                  { body: { amount: kopecks(v.amount), reason: v.reason || null } }));
  }

  function resend(booking) {
    ask(t("resendQ"), [{ name: "template", label: t("template"),
                         options: Object.entries(t("templates")) }],
      (v) => call("POST", "/api/notifications/send", { body: { booking_id: booking.id, template: v.template } }));
  }

  // --- the audit log ------------------------------------------------------------------------
  async function renderAudit(r) {
    const rows = el("tbody");
    const more = el("button", { type: "button", text: t("more") });
    let cursor = null;
    async function load() {
      const page = await must("/api/admin/audit?limit=100" + (cursor ? `&cursor=${cursor}` : ""));
      for (const a of page.items) {
        rows.append(el("tr", {}, [stamp(a.at), a.operator, a.role, a.action,
          a.booking_id ? el("a", { href: `#booking=${a.booking_id}`, text: a.booking_id.slice(0, 8) }) : a.target,
          JSON.stringify(a.details), a.outcome, a.ip, a.request_id]
          .map((c) => (c instanceof Node ? el("td", {}, c) : el("td", { text: c ?? "" })))));
      }
      cursor = page.next_cursor;
      more.hidden = !cursor;
    }
    more.addEventListener("click", load);
    if (r.stale()) return;
    paint(el("h1", { text: t("auditTitle") }),
      el("table", { id: "audit-log" }, el("thead", {}, el("tr", {},
        [t("at"), t("who"), "", t("what"), "", "", t("outcome"), t("ip"), t("requestId")]
          .map((h) => el("th", { text: h })))), rows), more);
    await load();
  }

  // --- a booking by phone --------------------------------------------------------------------
  function closeTime(halls, day) {
    const fields = [
      { name: "hall_id", label: t("hall"), options: [["", t("allHalls")]].concat(
          halls.map((h) => [String(h.id), h.name])) },
      { name: "from_day", label: t("from"), type: "date", value: day },
      { name: "from_time", label: "", type: "time", value: "09:00" },
      { name: "to_day", label: t("to"), type: "date", value: day },
      { name: "to_time", label: "", type: "time", value: "22:00" },
      { name: "reason", label: t("reason") }];
    ask(t("closeQ"), fields, async (v) => {
      const block = { hall_id: v.hall_id ? Number(v.hall_id) : null, reason: v.reason,
                      start: `${v.from_day}T${v.from_time}`, end: `${v.to_day}T${v.to_time}` };
      const answer = await call("POST", "/api/admin/blocks", { body: block });
      if (answer.status === 409 && answer.data.error === "block_hits_bookings") {
        // ask again, naming the bookings; a second OK closes the time anyway
        const list = answer.data.details.bookings.map((b) =>
          `${b.customer_name} ${localDay(b.start)} ${b.start.slice(11, 16)}–${b.end.slice(11, 16)}`).join("; ");
        setTimeout(() => ask(t("hitQ", { list }), [], async () => {
          const forced = await call("POST", "/api/admin/blocks", { body: { ...block, force: true } });
          if (forced.status === 201) forced.message = t("closedNotice", { count: forced.data.blocks.length });
          return forced;
        }), 0);
        return { status: 200 };      // this dialog closes; the next one asks
      }
      if (answer.status === 201) answer.message = t("closedNotice", { count: answer.data.blocks.length });
      return answer;
    });
  }

  function dayHours(halls, day) {
    ask(t("dayHoursQ", { day }), [
      { name: "hall_id", label: t("hall"), options: [["", t("allHalls")]].concat(
          halls.map((h) => [String(h.id), h.name])) },
      { name: "opens", label: t("opens"), type: "time", value: cfg.opens },
      { name: "closes", label: t("closes"), type: "time", value: "18:00" },
      { name: "closed", label: t("closedAllDay"), options: Object.entries(t("yesNo")) },
      { name: "note", label: t("note") }], async (v) => {
      const answer = await call("PUT", `/api/admin/special-days/${day}`, { body: {
        hall_id: v.hall_id ? Number(v.hall_id) : null,
        hours: v.closed === "true" ? null : [v.opens, v.closes], note: v.note || null } });
      if (answer.status === 200) {
        const outside = answer.data.bookings_outside || [];
        answer.message = outside.length ? t("outsideNotice", { list: outside.map((b) =>
          `${b.customer_name} ${b.start.slice(11, 16)}–${b.end.slice(11, 16)}`).join("; ") }) : t("hoursSaved");
      }
      return answer;
    });
  }

  function newBooking(slot, minute) {
    ask(t("newBooking", { hall: slot.hall.name, day: slot.day }), [
      { name: "start", label: t("start"), type: "time", value: clockOf(minute) },
      { name: "hours", label: t("hours"), options: [1, 2, 3, 4, 5, 6, 8].map((h) => [String(h), String(h)]) },
      { name: "name", label: t("customer") }, { name: "phone", label: t("phone"), type: "tel" },
      { name: "email", label: t("email"), type: "email" }, { name: "telegram", label: t("telegram") },
      { name: "payment", label: t("payHow"), options: [["desk", t("payDesk")], ["link", t("payLink")]] },
      { name: "kind", label: t("payWhat"), options: [["prepayment", t("payPrepayment")], ["full", t("payFull")]] },
    ], async (v) => {
      const start = minutesOf(v.start), end = Math.min(start + Number(v.hours) * 60, 24 * 60);
      const answer = await call("POST", "/api/admin/bookings", { body: {
        hall_id: slot.hall.id, start: `${slot.day}T${clockOf(start)}`,
        end: end === 24 * 60 ? `${addDays(slot.day, 1)}T00:00` : `${slot.day}T${clockOf(end)}`,
        customer: { name: v.name, phone: v.phone, email: v.email || null,
                    telegram_chat_id: v.telegram || null },
        payment: v.payment, kind: v.kind } });
      if (answer.status === 201) {
        if (answer.data.sent_to.length) answer.message = t("linkSent", { channels: answer.data.sent_to.join(", ") });
        window.location.hash = `#booking=${answer.data.booking.id}`;
      }
      return answer;
    });
  }

  // --- halls and tariffs ----------------------------------------------------------------------
  const WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function ruleRow(rule) {
    const row = el("div", { class: "rule" },
      WEEKDAY_NAMES.map((_, wd) => el("label", {},
        el("input", { type: "checkbox", name: "wd", value: wd, checked: rule.weekdays.includes(wd) }), t("weekdays")[wd])),
      el("input", { type: "time", name: "start", value: rule.start, step: 900, "aria-label": t("opens") }),
      el("input", { type: "time", name: "end", value: rule.end === "24:00" ? "00:00" : rule.end, step: 900, "aria-label": t("closes") }),
      el("input", { type: "number", name: "price", min: 0, step: 1, value: rule.hourly_price / 100, "aria-label": t("rulePrice") }),
      t("rulePrice"),
      el("button", { type: "button", text: t("remove"), onclick: () => row.remove() }));
    return row;
  }

  function hallFromForm(form) {
    const v = (name) => form.querySelector(`[name=${name}]`).value;
    const rules = Array.from(form.querySelectorAll(".rule")).map((row) => ({
      weekdays: Array.from(row.querySelectorAll("[name=wd]:checked")).map((box) => Number(box.value)),
      start: row.querySelector("[name=start]").value,
      end: row.querySelector("[name=end]").value === "00:00" ? "24:00" : row.querySelector("[name=end]").value,
      hourly_price: kopecks(row.querySelector("[name=price]").value) }));
    return {
      name: v("name"), description: v("description"), capacity: Number(v("capacity")),
      buffer_minutes: Number(v("buffer")),
      opening_hours: { default: [v("opens"), v("closes") === "00:00" ? "24:00" : v("closes")] },
      tariff: { hourly_price: kopecks(v("price")), rules } };
  }

  function previewGrid(week, base) {
    return el("div", { class: "preview", id: "price-preview" }, week.map((day) =>
      el("div", { class: "day", "data-weekday": day.weekday }, el("strong", { text: t("weekdays")[day.weekday] }),
        day.open ? day.prices.map((run) => el("div", { class: run.hourly_price > base ? "run dearer" : "run",
                                                        "data-price": run.hourly_price },
          el("span", { text: `${run.start}–${run.end}` }), el("span", { text: money(run.hourly_price) })))
          : el("div", { class: "muted", text: t("closed") || "—" }))));
  }

  async function renderHalls(r) {
    const halls = await must("/api/admin/halls");
    if (r.stale()) return;
    const editing = r.id === "new" ? null : halls.find((h) => String(h.id) === r.id);
    const list = table([t("hallName"), t("capacity"), t("basePrice"), t("statusLabel"), ""],
      halls.map((h) => [h.name, h.capacity, money(h.tariff.hourly_price), h.active ? t("active") : t("inactive"),
        el("a", { href: `#halls=${h.id}`, class: "edit-hall", "data-hall-id": h.id, text: t("edit") })]));
    const parts = [el("h1", { text: t("halls") }), el("div", { class: "toolbar" },
      el("a", { href: "#halls=new", id: "new-hall", text: t("newHall") })), list];
    if (r.id) {
      const hall = editing || { name: "", description: "", capacity: 4, buffer_minutes: 15,
                                opening_hours: null, tariff: { hourly_price: 200000, rules: [] } };
      const hours = (hall.opening_hours && (hall.opening_hours.default || hall.opening_hours.mon)) || [cfg.opens, cfg.closes];
      const rules = el("div", { id: "rules" }, (hall.tariff.rules || []).map(ruleRow));
      const preview = el("div");
      const form = el("form", { class: "card", id: "hall-form" },
        el("h2", { text: editing ? hall.name : t("newHall") }),
        el("div", { class: "hall-form" },
          el("label", {}, t("hallName"), el("input", { name: "name", value: hall.name, required: true })),
          el("label", {}, t("capacity"), el("input", { name: "capacity", type: "number", min: 1, value: hall.capacity })),
          el("label", {}, t("bufferMin"), el("input", { name: "buffer", type: "number", min: 0, step: 5, value: hall.buffer_minutes })),
          el("label", {}, t("basePrice"), el("input", { name: "price", type: "number", min: 0, value: hall.tariff.hourly_price / 100 })),
          el("label", {}, t("opens"), el("input", { name: "opens", type: "time", step: 900, value: hours[0] })),
          el("label", {}, t("closes"), el("input", { name: "closes", type: "time", step: 900, value: hours[1] === "24:00" ? "00:00" : hours[1] })),
          el("label", { class: "wide" }, t("description"), el("textarea", { name: "description", rows: 2 }, hall.description || ""))),
        el("h2", { text: t("rules") }), rules,
        el("button", { type: "button", id: "add-rule", text: t("addRule"),
          onclick: () => rules.append(ruleRow({ weekdays: [5, 6], start: cfg.opens, end: cfg.closes, hourly_price: hall.tariff.hourly_price })) }),
        el("div", { class: "actions" },
          el("button", { type: "button", id: "preview-prices", text: t("preview"), onclick: async () => {
            const data = hallFromForm(form);
            const answer = await call("POST", "/api/admin/halls/price-preview",
                                      { body: { tariff: data.tariff, opening_hours: data.opening_hours } });
            preview.replaceChildren(answer.status === 200 ? previewGrid(answer.data, data.tariff.hourly_price)
              : el("p", { class: "error", role: "alert", text: apiReason(answer.data) }));
          } }),
          el("button", { type: "submit", class: "primary", id: "save-hall", text: t("save") }),
          editing ? el("button", { type: "button", class: "danger", id: "toggle-hall",
            text: hall.active ? t("deactivate") : t("activate"),
            onclick: () => ask(t("deactivateQ"), [], (v) => call("PATCH", `/api/admin/halls/${hall.id}`, { body: { active: !hall.active } })) }) : null),
        preview);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        ask(t("saveQ"), [], async () => {
          const answer = editing ? await call("PATCH", `/api/admin/halls/${hall.id}`, { body: hallFromForm(form) })
                                 : await call("POST", "/api/admin/halls", { body: hallFromForm(form) });
          if (answer.status < 300) { answer.message = t("saved"); window.location.hash = `#halls=${answer.data.id}`; }
          return answer;
        });
      });
      parts.push(form);
    }
    paint(...parts);
  }

  // --- reports ------------------------------------------------------------------------------
  function moneyTable(rows, label, key) {
    return table([label, t("moneyIn"), t("refundsOut"), t("net")],
      rows.map((r) => [r[key] ?? "—", money(r.money_in), money(r.refunds), money(r.net)]));
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children.flat(Infinity)) {
      if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Takings per day: money in up, refunds down, from one zero line.
  function barChart(days) {
    const width = 1100, height = 220, left = 70, bottom = 24, top = 10;
    const peak = Math.max(1, ...days.map((d) => Math.max(d.money_in, d.refunds)));
    const zero = top + (height - top - bottom) * (peak / (2 * peak));
    const scale = (zero - top) / peak;
    const step = (width - left) / Math.max(1, days.length);
    const bars = days.map((d, i) => {
      const x = left + i * step + step * 0.15, w = step * 0.7;
      return [
        svg("rect", { class: "bar-in", x, y: zero - d.money_in * scale, width: w, height: d.money_in * scale },
          svg("title", {}, `${d.date}: ${t("moneyIn")} ${money(d.money_in)}, ${t("refundsOut")} ${money(d.refunds)}, ${t("net")} ${money(d.net)}`)),
        svg("rect", { class: "bar-out", x, y: zero, width: w, height: d.refunds * scale }),
        (days.length <= 16 || i % Math.ceil(days.length / 16) === 0)
          ? svg("text", { x: x + w / 2, y: height - 6, "text-anchor": "middle" }, d.date.slice(8)) : null];
    });
    return svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", id: "takings-chart",
                        "aria-label": t("perDay") },
      svg("line", { x1: left, x2: width, y1: zero, y2: zero, stroke: "#9aa0a8" }),
      svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" }, money(peak)),
      svg("text", { x: left - 6, y: zero + 4, "text-anchor": "end" }, "0"),
      bars);
  }

  // Weekday x hour: each cell's shade is the share of its quarter hours booked.
  function heatMap(hall) {
    const hours = Array.from({ length: 24 }, (_, h) => h)
      .filter((h) => h >= minutesOf(cfg.opens) / 60 - 1 && h < minutesOf(cfg.closes) / 60 + 1
                     || hall.heat.some((c) => c.hour === h));
    const cell = 22, left = 30, top = 16;
    const percent = {};
    for (const c of hall.heat) percent[`${c.weekday}:${c.hour}`] = c.percent;
    const cells = [];
    hours.forEach((h, col) => {
      cells.push(svg("text", { x: left + col * cell + cell / 2, y: 11, "text-anchor": "middle" }, h));
      for (let wd = 0; wd < 7; wd++) {
        const p = percent[`${wd}:${h}`] || 0;
        cells.push(svg("rect", { x: left + col * cell, y: top + wd * cell, width: cell - 2, height: cell - 2,
                                 fill: p ? `rgba(31, 95, 191, ${0.15 + 0.85 * p / 100})` : "#eef0f4",
                                 "data-cell": `${wd}:${h}`, "data-percent": p },
          svg("title", {}, `${t("weekdays")[wd]} ${h}:00 — ${p}%`)));
      }
    });
    for (let wd = 0; wd < 7; wd++) cells.push(svg("text", { x: 0, y: top + wd * cell + 15 }, t("weekdays")[wd]));
    return el("figure", { class: "heat" }, el("figcaption", { text: hall.hall_name }),
      svg("svg", { width: left + hours.length * cell, height: top + 7 * cell, role: "img",
                   "data-hall-id": hall.hall_id }, cells));
  }

  async function renderReports(r) {
    const today = studioToday();
    const from = r.from || today.slice(0, 8) + "01";
    const to = r.to || today;
    const range = `date_from=${from}&date_to=${to}`;
    const [takings, occupancy] = await Promise.all([
      must(`/api/admin/reports/takings?${range}`), must(`/api/admin/reports/occupancy?${range}`)]);
    if (r.stale()) return;
    const form = el("form", { class: "toolbar", id: "report-range" },
      el("label", { for: "from", text: t("from") }), el("input", { id: "from", name: "from", type: "date", value: from }),
      el("label", { for: "to", text: t("to") }), el("input", { id: "to", name: "to", type: "date", value: to }),
      el("button", { type: "submit", class: "primary", text: t("show") }),
      el("a", { id: "csv", href: `/api/admin/reports/bookings.csv?${range}`, download: "", text: t("csv") }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const v = Object.fromEntries(new FormData(form));
      go(`#reports=${v.from}/${v.to}`);
    });
    paint(el("h1", { text: t("reports") }), form,
      el("div", { class: "reports" },
        el("section", { class: "card" }, el("h2", { text: t("takings") }),
          el("dl", { class: "facts", id: "takings-total" },
            el("dt", { text: t("moneyIn") }), el("dd", { text: money(takings.total.money_in) }),
            el("dt", { text: t("refundsOut") }), el("dd", { text: money(takings.total.refunds) }),
            el("dt", { text: t("net") }), el("dd", { text: money(takings.total.net) })),
          el("h2", { text: t("byProvider") }), moneyTable(takings.by_provider.map((p) => ({ ...p, provider: p.provider === "desk" ? t("desk") : p.provider })),
            t("provider"), "provider"),
          el("h2", { text: t("byHall") }), moneyTable(takings.by_hall, t("hall"), "hall_name")),
        el("section", { class: "card" }, el("h2", { text: t("occupancy") }),
          table([t("hall"), t("open"), t("booked"), t("bookingsN"), "%"],
            occupancy.halls.map((h) => [h.hall_name, (h.open_minutes / 60).toFixed(1),
                                        (h.booked_minutes / 60).toFixed(1), h.bookings, `${h.occupancy_percent}%`]))),
        el("section", { class: "card wide" }, el("h2", { text: t("perDay") }), barChart(takings.by_day)),
        el("section", { class: "card wide" }, el("h2", { text: t("heatTitle") }),
          occupancy.halls.map(heatMap))));
  }

  // --- problems -------------------------------------------------------------------------------
  async function refreshBadge(data) {
    const problems = data || (await call("GET", "/api/admin/problems")).data;
    const badge = document.getElementById("problems-badge");
    if (!badge || !problems || !problems.counts) return;
    badge.textContent = problems.counts.total;
    badge.hidden = !problems.counts.total;
  }

  async function renderProblems(r) {
    const problems = await must("/api/admin/problems");
    if (r.stale()) return;
    refreshBadge(problems);
    const canRole = state.me && state.me.role !== "viewer";
    const eventRows = (items) => items.map((e) => [e.service, e.type, e.handler, e.attempts,
      e.last_error, stamp(e.received_at),
      e.booking_id ? el("a", { href: `#booking=${e.booking_id}`, text: e.booking_id.slice(0, 8) }) : "",
      canRole ? el("button", { type: "button", class: "retry", "data-event-id": e.event_id, text: t("retry"),
        onclick: async () => {
          const answer = await call("POST", `/api/admin/problems/events/${e.service}/${e.event_id}/retry`);
          await show();
          notice(answer.status === 200 ? t("retried", { outcome: Object.values(answer.data.outcomes).join(", ") })
                                      : t("refused", { reason: apiReason(answer.data) }));
        } }) : ""]);
    const eventHead = [t("service"), t("type"), t("handler"), t("attempts"), t("error"), t("at"), "", ""];
    paint(el("h1", { text: t("problems") }),
      problems.unavailable.length ? el("p", { class: "error", text: t("unavailable", { names: problems.unavailable.join(", ") }) }) : null,
      problems.counts.total ? null : el("p", { id: "no-problems", text: t("noProblems") }),
      el("h2", { text: t("deadEvents") }), el("div", { id: "dead-events" }, table(eventHead, eventRows(problems.dead_events))),
      el("h2", { text: t("failedEvents") }), table(eventHead, eventRows(problems.failed_events)),
      el("h2", { text: t("pendingPayments") }),
      table([t("created"), t("provider"), t("kind"), t("amount"), t("statusLabel"), ""],
        problems.pending_payments.map((p) => [stamp(p.created_at), p.gateway, p.kind, money(p.amount), p.status,
          el("a", { href: `#booking=${p.booking_id}`, text: p.booking_id.slice(0, 8) })])),
      el("h2", { text: t("failedRefunds") }),
      table([t("created"), t("provider"), t("amount"), t("reason"), t("error"), ""],
        problems.failed_refunds.map((f) => [stamp(f.created_at), f.gateway, money(f.amount), f.reason, f.error,
          el("a", { href: `#booking=${f.booking_id}`, text: String(f.booking_id).slice(0, 8) })])),
      el("h2", { text: t("failedNotifications") }),
      table([t("created"), t("channel"), t("recipient"), t("template"), t("error"), ""],
        problems.failed_notifications.map((n) => [stamp(n.created_at), n.channel, n.recipient, n.template, n.last_error,
          n.booking_id ? el("a", { href: `#booking=${n.booking_id}`, text: n.booking_id.slice(0, 8) }) : ""])));
  }

  // --- live updates -------------------------------------------------------------------------
  let refreshTimer = null;
  function connectLive() {
    const source = new EventSource("/api/admin/live");
    source.addEventListener("open", () => setLive(true));
    source.addEventListener("error", () => setLive(false));
    const onEvent = (event) => {
      const payload = JSON.parse(event.data).payload || {};
      const r = state.route;
      if (!r || (r.view === "booking" && payload.booking_id !== r.id) || r.view !== "day" && r.view !== "week" && r.view !== "booking") return;
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => { if (!dialog.open) show(); }, 250);
    };
    for (const type of ["booking.created", "booking.confirmed", "booking.payment_recorded",
                        "booking.cancelled", "booking.rescheduled", "booking.expired",
                        "hall.blocked", "hall.unblocked",
                        "payment.succeeded",
                        "payment.failed", "payment.refunded"]) {
      source.addEventListener(type, onEvent);
    }
  }

  function setLive(on) {
    state.live = on;
    const badge = document.getElementById("live");
    if (badge) { badge.className = on ? "live" : "live off"; badge.textContent = on ? t("liveOn") : t("liveOff"); }
  }

  function tick() {
    for (const node of document.querySelectorAll("[data-hold]")) {
      node.textContent = holdText({ hold_expires_at: node.dataset.hold });
    }
  }

  // --- the frame ----------------------------------------------------------------------------
  let showing = 0;
  async function show() {
    const mine = ++showing;
    const r = state.route = route();
    r.stale = () => mine !== showing;   // a later show() began: this one must not paint
    for (const link of document.querySelectorAll("#menu a")) {
      const current = ["audit", "reports", "problems", "halls"].includes(r.view) ? `#${r.view}` : "#day";
      link.classList.toggle("active", link.getAttribute("href") === current);
    }
    try {
      if (r.view === "booking") await renderBooking(r);
      else if (r.view === "audit") await renderAudit(r);
      else if (r.view === "reports") await renderReports(r);
      else if (r.view === "problems") await renderProblems(r);
      else if (r.view === "halls") await renderHalls(r);
      else if (r.view === "week") await renderWeek(r);
      else await renderDay(r);
    } catch (error) {
      if (mine !== showing) return;
      paint(el("p", { class: "error", role: "alert", text: error.message }));
      // A service that stumbled (busy, restarting) is asked again, while this is still shown.
      setTimeout(() => { if (mine === showing && !dialog.open) show(); }, 3000);
    }
  }

  function translateChrome() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    document.getElementById("lang").textContent = t("otherLanguage");
  }

  async function start() {
    translateChrome();
    document.getElementById("lang").addEventListener("click", () => {
      lang = lang === "ru" ? "en" : "ru";
      localStorage.setItem("studio.lang", lang);   // the language only, never a credential
      translateChrome();
      if (cfg.view === "sign-in") renderSignIn(); else show();
    });
    if (cfg.view === "sign-in") { renderSignIn(); return; }
    const session = await call("GET", "/api/admin/session");
    if (session.status !== 200) return;
    state.me = session.data.operator;
    document.getElementById("who").textContent = `${state.me.name} (${state.me.role})`;
    document.getElementById("menu").hidden = false;
    if (state.me.role !== "owner") {
      for (const link of document.querySelectorAll('#menu a[href="#reports"], #menu a[href="#halls"]')) link.hidden = true;
    }
    const signOut = document.getElementById("sign-out");
    signOut.hidden = false;
    signOut.addEventListener("click", async () => {
      await call("DELETE", "/api/admin/session");
      window.location.assign("/admin/sign-in");
    });
    window.addEventListener("hashchange", show);
    connectLive();
    setInterval(tick, 1000);
    refreshBadge();
    setInterval(refreshBadge, 60000);
    await show();
  }

  start();
})();
