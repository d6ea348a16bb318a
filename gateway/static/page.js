// The studio's booking page: plain JavaScript, no build step, no library.
// Everything shown comes from the public JSON API (/api/...). The booking's token is kept in
// this browser (localStorage) and in the URL's fragment (#t=...), never in a path or query.
"use strict";

(function () {
  const body = document.body;
  const cfg = {
    view: body.dataset.view,
    bookingId: body.dataset.bookingId,
    timezone: body.dataset.timezone,
    gateway: body.dataset.paymentGateway,
    fullRefundHours: Number(body.dataset.fullRefundHours),
    horizonDays: Number(body.dataset.horizonDays),
    slotMinutes: Number(body.dataset.slotMinutes),
    studioName: body.dataset.studioName,
  };
  const app = document.getElementById("app");

  // --- words ------------------------------------------------------------------------------
  // gateway/static/words/page.json, put in the page by the server
  const WORDS = Studio.pageWords();
  let lang = localStorage.getItem("studio.lang") === "en" ? "en" : "ru";

  const t = Studio.words(WORDS, () => lang);
  const { el, newKey, addDays, weekdayOf, mondayOf, minutesOf, clockOf } = Studio;

  // --- the API ----------------------------------------------------------------------------
  async function call(method, path, options) {
    const { token, json, headers } = options || {};
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    if (token) init.headers.Authorization = "Bearer " + token;
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { status: 0, data: { error: "network", message: t("network") } };
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("application/json")) data = await response.json();
    return { status: response.status, data, response };
  }

  function apiReason(data) {
    // The API's own words: its message, then what it says about each field.
    const parts = [];
    const details = (data && data.details) || {};
    for (const messages of Object.values(details)) {
      if (Array.isArray(messages)) parts.push(...messages);
      else if (typeof messages === "string") parts.push(messages);
    }
    return parts.length ? parts.join("; ") : (data && data.message) || "";
  }

  // --- formatting (times arrive in the studio's zone with their offset) --------------------
  function money(kopecks, currency) { return Studio.money(kopecks, lang, currency); }
  const clock = (iso) => iso.slice(11, 16);
  const dayOf = (iso) => iso.slice(0, 10);
  function dateLabel(day, withWeekday) {
    const options = { day: "numeric", month: "short", timeZone: "UTC" };
    if (withWeekday) options.weekday = "short";
    return new Intl.DateTimeFormat(lang === "ru" ? "ru-RU" : "en-GB", options)
      .format(Studio.dateOf(day));
  }
  function studioToday() { return Studio.today(cfg.timezone); }
  function durationText(minutes) {
    const h = Math.floor(minutes / 60), m = minutes % 60;
    return m ? t("duration", { h, m }) : t("durationHours", { h });
  }

  // --- the token of a booking, kept in this browser -----------------------------------------
  function fragmentParams() {
    const raw = location.hash.replace(/^#/, "");
    if (!raw) return new URLSearchParams();
    return raw.includes("=") ? new URLSearchParams(raw) : new URLSearchParams({ t: raw });
  }
  function tokenFor(bookingId) {
    const fromLink = fragmentParams().get("t");
    if (fromLink) localStorage.setItem("studio.booking." + bookingId, fromLink);
    return fromLink || localStorage.getItem("studio.booking." + bookingId);
  }

  function translateChrome() {
    document.documentElement.lang = lang;
    const langButton = document.getElementById("lang");
    langButton.textContent = t("otherLanguage");
    langButton.setAttribute("aria-label", t("otherLanguageName"));
    document.querySelector(".skip").textContent = t("skip");
    document.querySelector(".brand").textContent = cfg.studioName || t("brand");
    document.querySelector("[data-t=footer]").textContent = t("footer", { tz: cfg.timezone });
    document.title = cfg.view === "booking" ? t("myBooking") : cfg.studioName || t("brand");
  }

  // =========================================================================================
  // "/": choose a hall and a time, give details, pay
  // =========================================================================================
  const book = {
    halls: [], hall: null, weekStart: null, availability: null, loadingWeek: false,
    start: null, end: null, quote: null, notice: "", dayIndex: 0,
    form: { name: "", phone: "", email: "", telegram_chat_id: "", comment: "", kind: "prepayment" },
    errors: {}, formMessage: "", submitting: false, idempotencyKey: null,
  };
  const narrow = window.matchMedia("(max-width: 640px)");

  async function startBooking() {
    book.weekStart = mondayOf(studioToday());
    book.dayIndex = weekdayOf(studioToday());
    renderBook();
    const { status, data } = await call("GET", "/api/halls");
    if (status !== 200) {
      book.formMessage = t("network");
      renderBook();
      return;
    }
    book.halls = data;
    if (data.length === 1) return chooseHall(data[0]);
    renderBook();
  }

  async function chooseHall(hall) {
    book.hall = hall;
    clearSelection();
    await loadWeek();
    const heading = document.getElementById("calendar-title");
    if (heading) heading.focus();
  }

  function clearSelection() {
    book.start = book.end = null;
    book.quote = null;
    book.notice = "";
    book.idempotencyKey = null;
  }

  async function loadWeek() {
    book.loadingWeek = true;
    renderBook();
    const query = new URLSearchParams({ hall_id: book.hall.id, start_date: book.weekStart,
      end_date: addDays(book.weekStart, 6) });
    const asked = { hall: book.hall, weekStart: book.weekStart };
    const { status, data } = await call("GET", "/api/bookings/availability?" + query);
    // a slow answer for a week (or hall) the customer has since left is not shown
    if (book.hall !== asked.hall || book.weekStart !== asked.weekStart) return;
    book.loadingWeek = false;
    book.availability = status === 200 ? data : null;
    if (status !== 200) book.notice = apiReason(data) || t("network");
    renderBook();
  }

  function moveWeek(weeks) {
    book.weekStart = addDays(book.weekStart, 7 * weeks);
    clearSelection();
    loadWeek();
  }

  function ruleText(rule) {
    const days = rule.weekdays.map((d) => t("weekdays")[d]).join(", ");
    return `${days} ${rule.start}–${rule.end}: ${t("perHour", { price: money(rule.hourly_price, book.hall ? book.hall.currency : "RUB") })}`;
  }

  function hallCard(hall) {
    const chosen = book.hall && book.hall.id === hall.id;
    return el("li", { class: "hall" + (chosen ? " chosen" : "") },
      el("h3", {}, hall.name),
      hall.description ? el("p", { class: "muted" }, hall.description) : null,
      el("p", {}, t("capacity", { n: hall.capacity }), " · ",
        el("strong", {}, t("perHour", { price: money(hall.hourly_price, hall.currency) }))),
      (hall.tariff_rules || []).length
        ? el("ul", { class: "rules" }, hall.tariff_rules.map((rule) => el("li", {}, ruleText(rule))))
        : null,
      hall.buffer_minutes ? el("p", { class: "muted" }, t("buffer", { n: hall.buffer_minutes })) : null,
      el("button", { type: "button", class: chosen ? "secondary" : "primary",
        "aria-pressed": chosen ? "true" : "false", onclick: () => chooseHall(hall) },
        chosen ? t("chosen") : t("choose")));
  }

  // Rows of the week: from the earliest opening to the latest closing of the hall's week.
  function weekRows() {
    const hours = Object.values(book.hall.opening_hours || {}).filter(Boolean);
    const opens = hours.length ? Math.min(...hours.map((h) => minutesOf(h[0]))) : 9 * 60;
    const closes = hours.length ? Math.max(...hours.map((h) => minutesOf(h[1]) || 1440)) : 22 * 60;
    const rows = [];
    for (let m = opens; m < closes; m += cfg.slotMinutes) rows.push(m);
    return rows;
  }

  const WEEKDAY_KEYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function freeSlotsByDay() {
    const byDay = {};
    for (const day of (book.availability && book.availability.days) || []) {
      const slots = {};
      for (const slot of day.slots) slots[clock(slot.start)] = slot;
      byDay[day.date] = slots;
    }
    return byDay;
  }

  function isSelected(slot) {
    if (!book.start) return false;
    const end = book.end || book.start;
    return slot.start >= book.start.start && slot.start <= end.start && dayOf(slot.start) === dayOf(book.start.start);
  }

  function slotCell(day, minute, free) {
    const hours = (book.hall.opening_hours || {})[WEEKDAY_KEYS[weekdayOf(day)]];
    const slot = free[clockOf(minute)];
    if (!slot) {
      const open = hours && minute >= minutesOf(hours[0]) && minute < (minutesOf(hours[1]) || 1440);
      return el("td", { class: open ? "taken" : "closed" },
        el("span", { class: "sr" }, open ? t("taken") : t("closed")));
    }
    const hourly = Math.round(slot.price * 60 / cfg.slotMinutes);
    const differs = hourly !== book.hall.hourly_price;
    const selected = isSelected(slot);
    const label = `${dateLabel(day, true)} ${clockOf(minute)}, ${t("free")}, ${t("perHour", { price: money(hourly, book.hall.currency) })}`;
    return el("td", { class: "free" + (selected ? " selected" : "") },
      el("button", { type: "button", class: "slot", "aria-label": label,
        "aria-pressed": selected ? "true" : "false", dataset: { start: slot.start },
        onclick: () => pickSlot(slot) },
        differs && minute % 60 === 0 ? el("span", { class: "price" }, money(hourly, book.hall.currency)) : ""));
  }

  function calendarSection() {
    const days = [];
    for (let i = 0; i < 7; i++) days.push(addDays(book.weekStart, i));
    const today = studioToday();
    const lastDay = addDays(today, cfg.horizonDays);
    const shownDays = narrow.matches ? [days[book.dayIndex]] : days;
    const free = freeSlotsByDay();
    const head = el("tr", {}, el("th", { scope: "col", class: "time" }, t("time")),
      shownDays.map((day) => {
        const closed = !(book.hall.opening_hours || {})[WEEKDAY_KEYS[weekdayOf(day)]];
        return el("th", { scope: "col", class: closed ? "closed-day" : "" }, dateLabel(day, true),
          closed ? el("small", {}, " · " + t("closed")) : null);
      }));
    const rows = weekRows().map((minute) => el("tr", { class: minute % 60 === 0 ? "hour" : "" },
      el("th", { scope: "row", class: "time" }, minute % 60 === 0 || narrow.matches ? clockOf(minute) : ""),
      shownDays.map((day) => slotCell(day, minute, free[day] || {}))));
    const dayTabs = narrow.matches ? el("div", { class: "day-tabs", role: "group" }, days.map((day, i) =>
      el("button", { type: "button", id: `day-tab-${i}`, class: i === book.dayIndex ? "active" : "",
        "aria-pressed": i === book.dayIndex ? "true" : "false",
        onclick: () => { book.dayIndex = i; renderBook(); } }, dateLabel(day, true)))) : null;
    return el("section", { class: "card", "aria-labelledby": "calendar-title" },
      el("h2", { id: "calendar-title", tabindex: "-1" }, t("calendarTitle"), " · ", book.hall.name),
      el("p", { class: "muted" }, t("calendarHelp")),
      el("div", { class: "week-nav" },
        el("button", { type: "button", id: "prev-week", disabled: book.weekStart <= mondayOf(today),
          onclick: () => moveWeek(-1) }, t("prevWeek")),
        el("span", { class: "week-label" }, t("weekOf", { from: dateLabel(days[0]), to: dateLabel(days[6]) })),
        el("button", { type: "button", id: "next-week", disabled: addDays(book.weekStart, 7) > lastDay,
          onclick: () => moveWeek(1) }, t("nextWeek"))),
      dayTabs,
      book.loadingWeek ? el("p", { class: "muted" }, t("loading")) : null,
      el("div", { class: "calendar-wrap" }, el("table", { class: "calendar" }, el("thead", {}, head), el("tbody", {}, rows))),
      quoteBox());
  }

  function quoteBox() {
    const box = el("div", { id: "quote", class: "quote", role: "status" });
    if (book.notice) box.append(el("p", { class: "problem" }, book.notice));
    if (book.start && !book.end) box.append(el("p", {}, t("pickEnd", { time: clock(book.start.start) })));
    if (book.start && book.end) {
      const minutes = (Date.parse(book.end.end) - Date.parse(book.start.start)) / 60000;
      box.append(el("p", { class: "chosen-time" },
        `${dateLabel(dayOf(book.start.start), true)}, ${clock(book.start.start)}–${clock(book.end.end)} (${durationText(minutes)})`));
    }
    if (book.quote) {
      const q = book.quote;
      const due = book.form.kind === "full" ? q.price_total : q.prepayment_amount;
      box.append(el("dl", { class: "amounts" },
        el("dt", {}, t("total")), el("dd", { id: "quote-total" }, money(q.price_total, q.currency)),
        el("dt", {}, t("prepayment")), el("dd", {}, money(q.prepayment_amount, q.currency)),
        el("dt", {}, t("dueNow")), el("dd", { id: "quote-due" }, money(due, q.currency))));
    }
    return box;
  }

  async function pickSlot(slot) {
    book.notice = "";
    book.quote = null;
    book.idempotencyKey = null;
    if (!book.start || book.end || slot.start < book.start.start || dayOf(slot.start) !== dayOf(book.start.start)) {
      book.start = slot;
      book.end = null;
      renderBook(slot.start);
      return;
    }
    // Everything between start and end must be free, on the same day.
    const free = freeSlotsByDay()[dayOf(slot.start)] || {};
    for (let m = minutesOf(clock(book.start.start)); m <= minutesOf(clock(slot.start)); m += cfg.slotMinutes) {
      if (!free[clockOf(m)]) {
        book.start = slot;
        book.notice = t("overlap");
        renderBook(slot.start);
        return;
      }
    }
    book.end = slot;
    renderBook(slot.start);
    await fetchQuote(slot.start);
  }

  async function fetchQuote(focusStart) {
    const query = new URLSearchParams({ hall_id: book.hall.id, start: book.start.start, end: book.end.end });
    const { status, data } = await call("GET", "/api/bookings/quote?" + query);
    if (status === 200) book.quote = data;
    else book.notice = t("refused", { reason: apiReason(data) });
    renderBook(focusStart);
  }

  // --- the details form ---
  const PHONE = /^\+?[0-9][0-9 ()\-]{5,22}[0-9]$/;
  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const TELEGRAM = /^-?[0-9]{1,20}$/;

  function checkForm() {
    const f = book.form, errors = {};
    if (!f.name.trim()) errors.name = t("required");
    if (!f.phone.trim()) errors.phone = t("required");
    else if (!PHONE.test(f.phone.trim())) errors.phone = t("badPhone");
    if (f.email.trim() && !EMAIL.test(f.email.trim())) errors.email = t("badEmail");
    if (f.telegram_chat_id.trim() && !TELEGRAM.test(f.telegram_chat_id.trim())) errors.telegram_chat_id = t("badTelegram");
    return errors;
  }

  function field(name, label, attrs, hint) {
    const error = book.errors[name];
    const input = el(name === "comment" ? "textarea" : "input", Object.assign({
      id: "f-" + name, name, "aria-invalid": error ? "true" : "false",
      "aria-describedby": [error ? "e-" + name : null, hint ? "h-" + name : null].filter(Boolean).join(" ") || null,
      oninput: (event) => { book.form[name] = event.target.value; book.idempotencyKey = null; },
    }, attrs));
    input.value = book.form[name];
    return el("div", { class: "field" + (error ? " invalid" : "") },
      el("label", { for: "f-" + name }, label), input,
      hint ? el("small", { id: "h-" + name, class: "muted" }, hint) : null,
      error ? el("p", { id: "e-" + name, class: "field-error" }, error) : null);
  }

  function detailsSection() {
    const kindChoice = (value, label) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "kind", value, checked: book.form.kind === value,
        onchange: () => { book.form.kind = value; renderBook(); } }), " ", label);
    return el("section", { class: "card", "aria-labelledby": "details-title" },
      el("h2", { id: "details-title" }, t("detailsTitle")),
      el("form", { id: "details", novalidate: true, onsubmit: submitBooking },
        field("name", t("name"), { autocomplete: "name", required: true, maxlength: 120 }),
        field("phone", t("phone"), { type: "tel", autocomplete: "tel", required: true, inputmode: "tel" }),
        field("email", t("email"), { type: "email", autocomplete: "email" }, t("emailHint")),
        field("telegram_chat_id", t("telegram"), { inputmode: "numeric" }),
        field("comment", t("comment"), { maxlength: 1000, rows: 2 }),
        el("fieldset", { class: "kinds" }, el("legend", {}, t("payKind")),
          kindChoice("prepayment", t("payPrepayment")), kindChoice("full", t("payFull"))),
        el("p", { class: "policy" }, t("policy", { hours: cfg.fullRefundHours })),
        book.formMessage ? el("p", { class: "problem", role: "alert", id: "form-message" }, book.formMessage) : null,
        el("button", { type: "submit", class: "primary big", id: "submit", disabled: book.submitting },
          book.submitting ? t("submitting") : t("submit"))));
  }

  function fieldErrorsFromApi(details) {
    const errors = {};
    const customer = (details && details.customer) || {};
    for (const [name, messages] of Object.entries(customer)) errors[name] = [].concat(messages).join(" ");
    if (details && details.comment) errors.comment = [].concat(details.comment).join(" ");
    return errors;
  }

  async function submitBooking(event) {
    event.preventDefault();
    if (book.submitting) return;   // a double click makes one booking (and the key makes sure)
    book.formMessage = "";
    book.errors = checkForm();
    if (!book.start || !book.end || !book.quote) {
      book.formMessage = t("chooseTimeFirst");
      renderBook();
      return;
    }
    if (Object.keys(book.errors).length) {
      book.formMessage = t("fixFields");
      renderBook();
      const first = document.querySelector(".field.invalid input, .field.invalid textarea");
      if (first) first.focus();
      return;
    }
    book.submitting = true;
    book.idempotencyKey = book.idempotencyKey || newKey();
    renderBook();
    const f = book.form;
    const customer = { name: f.name.trim(), phone: f.phone.trim() };
    if (f.email.trim()) customer.email = f.email.trim();
    if (f.telegram_chat_id.trim()) customer.telegram_chat_id = f.telegram_chat_id.trim();
    const created = await call("POST", "/api/bookings", {
      headers: { "Idempotency-Key": book.idempotencyKey },
      json: { hall_id: book.hall.id, start: book.start.start, end: book.end.end, customer,
        comment: f.comment.trim() || null } });
    if (created.status !== 201) return bookingRefused(created);
    const booking = created.data;
    localStorage.setItem("studio.booking." + booking.id, booking.access_token);
    await startPayment(booking.id, booking.access_token, f.kind, () => {
      // The booking exists even if the payment could not start: its page can pay it.
      location.assign("/b/" + booking.id);
    });
  }

  async function bookingRefused({ status, data }) {
    book.submitting = false;
    if (status === 409 && data && data.error === "slot_taken") {
      clearSelection();
      book.formMessage = t("justTaken");
      book.notice = t("justTaken");
      await loadWeek();
      const heading = document.getElementById("calendar-title");
      if (heading) heading.focus();
      return;
    }
    if (status === 422) {
      book.errors = fieldErrorsFromApi(data.details);
      book.formMessage = Object.keys(book.errors).length ? t("fixFields") : t("refused", { reason: apiReason(data) });
    } else {
      book.formMessage = (data && data.message) || t("network");
    }
    renderBook();
  }

  async function startPayment(bookingId, token, kind, onFailure) {
    const payment = await call("POST", "/api/payments", {
      token, headers: { "Idempotency-Key": newKey() },
      json: { booking_id: bookingId, kind, gateway: cfg.gateway,
        return_url: location.origin + "/b/" + bookingId } });
    if (payment.status === 201 && payment.data.confirmation_url) {
      sessionStorage.setItem("studio.payment." + bookingId, payment.data.id);
      location.assign(payment.data.confirmation_url);
      return true;
    }
    onFailure(payment);
    return false;
  }

  function renderBook(focusStart) {
    translateChrome();
    const sections = [el("section", { class: "card", "aria-labelledby": "halls-title" },
      el("h2", { id: "halls-title" }, t("hallsTitle")),
      book.halls.length ? el("ul", { class: "halls" }, book.halls.map(hallCard)) : el("p", { class: "muted" }, t("loading")))];
    if (book.hall) {
      sections.push(calendarSection());
      sections.push(detailsSection());
    } else if (book.formMessage) {
      sections.push(el("p", { class: "problem" }, book.formMessage));
    }
    const active = document.activeElement;
    const activeId = active && active.id;
    app.replaceChildren(...sections);
    // Re-rendering must not lose the keyboard's place.
    if (focusStart) {
      const again = app.querySelector(`button.slot[data-start="${focusStart}"]`);
      if (again) again.focus();
    } else if (activeId) {
      const again = document.getElementById(activeId);
      if (again) again.focus();
    }
  }

  // =========================================================================================
  // "/b/<id>": my booking, live
  // =========================================================================================
  const mine = { booking: null, token: null, problem: "", events: [], live: false,
    confirmingCancel: false, moving: null, busy: false, source: null, retryDelay: 1000, lastEventId: null };

  async function startMyBooking() {
    mine.token = tokenFor(cfg.bookingId);
    renderMine();
    if (!mine.token) {
      mine.problem = t("noToken");
      return renderMine();
    }
    const { status, data } = await call("GET", "/api/bookings/" + cfg.bookingId, { token: mine.token });
    if (status !== 200) {
      mine.problem = status === 404 ? t("notFound") : status === 403 ? t("noToken") : (data && data.message) || t("network");
      return renderMine();
    }
    mine.booking = data;
    renderMine();
    const action = fragmentParams().get("do");
    if (action === "pay") payFromPage();
    if (action === "calendar") downloadCalendar();
    // Listen first, then look: a payment that ends in between comes by the stream.
    connectLive();
    setInterval(tickHold, 1000);
  }

  // Back from the checkout: how did the payment made from this browser end?
  async function lastPaymentOutcome() {
    const paymentId = sessionStorage.getItem("studio.payment." + cfg.bookingId);
    if (!paymentId) return;
    const { status, data } = await call("GET", "/api/payments/" + paymentId, { token: mine.token });
    if (status !== 200 || data.status === "pending") return;   // its end will be pushed
    if (data.status === "failed" || data.status === "canceled") note("paymentFailed");
    if (data.status === "succeeded" && mine.booking.status === "pending_payment") note("paymentSucceeded");
    sessionStorage.removeItem("studio.payment." + cfg.bookingId);
    renderMine();
  }

  function note(key, vars) {
    mine.events = mine.events.filter((e) => e.key !== key).concat([{ key, vars }]);
  }

  async function connectLive() {
    const ticket = await call("POST", `/api/bookings/${cfg.bookingId}/live-ticket`, { token: mine.token });
    if (ticket.status !== 201) return retryLive();
    const source = new EventSource(`/api/bookings/${cfg.bookingId}/events`);
    mine.source = source;
    source.onopen = () => { mine.live = true; mine.retryDelay = 1000; renderLive(); };
    source.onerror = () => {
      mine.live = false;
      renderLive();
      // The browser retries by itself; once it gives up (the ticket ran out), get a new one.
      if (source.readyState === EventSource.CLOSED) retryLive();
    };
    source.addEventListener("state", (event) => {
      mine.booking = JSON.parse(event.data);
      renderMine();
      lastPaymentOutcome();
    });
    for (const type of ["booking.confirmed", "booking.payment_recorded", "booking.cancelled",
                        "booking.rescheduled", "booking.expired"]) {
      source.addEventListener(type, (event) => {
        const payload = JSON.parse(event.data).payload;
        Object.assign(mine.booking, {
          status: payload.status, amount_paid: payload.amount_paid, price_total: payload.price_total,
          remaining_due: payload.price_total - payload.amount_paid,
          hall_id: payload.hall_id, hall_name: payload.hall_name, start: payload.start, end: payload.end,
          prepayment_amount: payload.prepayment_amount, hold_expires_at: payload.hold_expires_at,
          // a move's refund_due is what the move gave back, not a cancellation's refund
          refund_due: payload.refund_due === undefined || type === "booking.rescheduled"
            ? mine.booking.refund_due : payload.refund_due });
        if (type !== "booking.payment_recorded") mine.events = mine.events.filter((e) => e.key !== "paymentSucceeded");
        renderMine();
      });
    }
    source.addEventListener("payment.failed", () => {
      sessionStorage.removeItem("studio.payment." + cfg.bookingId);
      note("paymentFailed");
      renderMine();
    });
    source.addEventListener("payment.succeeded", () => {
      sessionStorage.removeItem("studio.payment." + cfg.bookingId);
      mine.events = mine.events.filter((e) => e.key !== "paymentFailed");
      if (mine.booking.status === "pending_payment") note("paymentSucceeded");
      renderMine();
    });
    source.addEventListener("payment.refunded", (event) => {
      const payload = JSON.parse(event.data).payload;
      const amount = payload.refund_amount !== undefined ? payload.refund_amount : payload.refunded_amount;
      note("refunded", { amount: money(amount, payload.currency) });
      renderMine();
    });
  }

  function retryLive() {
    if (mine.source) mine.source.close();
    mine.source = null;
    setTimeout(connectLive, mine.retryDelay);
    mine.retryDelay = Math.min(mine.retryDelay * 2, 30000);
  }

  function holdLeft() {
    const b = mine.booking;
    if (!b || b.status !== "pending_payment" || !b.hold_expires_at) return null;
    return Math.max(0, Math.floor((Date.parse(b.hold_expires_at) - Date.now()) / 1000));
  }

  function tickHold() {
    const node = document.getElementById("hold");
    const left = holdLeft();
    if (!node || left === null) return;
    node.textContent = left > 0
      ? t("holdLeft", { left: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` })
      : t("holdOver");
  }

  function refundIfCancelledNow() {
    const b = mine.booking;
    const hoursLeft = (Date.parse(b.start) - Date.now()) / 3600000;
    if (hoursLeft >= cfg.fullRefundHours) return b.amount_paid;
    return Math.max(0, b.amount_paid - b.prepayment_amount);
  }

  async function payFromPage() {
    const b = mine.booking;
    if (!b || mine.busy) return;
    const kind = b.amount_paid > 0 ? "remainder" : "prepayment";
    return payKind(kind);
  }

  async function payKind(kind) {
    mine.busy = true;
    renderMine();
    await startPayment(cfg.bookingId, mine.token, kind, (payment) => {
      mine.busy = false;
      mine.problem = (payment.data && payment.data.message) || t("network");
      renderMine();
    });
  }

  async function cancelBooking() {
    mine.busy = true;
    renderMine();
    const { status, data } = await call("DELETE", "/api/bookings/" + cfg.bookingId, { token: mine.token });
    mine.busy = false;
    mine.confirmingCancel = false;
    if (status === 200) mine.booking = data;
    else mine.problem = (data && data.message) || t("network");
    renderMine();
    const heading = document.getElementById("status");
    if (heading) heading.focus();
  }

  function canMove(b) {
    const hoursLeft = (Date.parse(b.start) - Date.now()) / 3600000;
    return (b.status === "confirmed" || b.status === "pending_payment") && hoursLeft >= cfg.fullRefundHours;
  }

  async function moveBooking(event) {
    event.preventDefault();
    const draft = mine.moving;
    const body = { start: `${draft.date}T${draft.start}`, end: `${draft.date}T${draft.end}` };
    // the same key for a retry of the same move (after a lost answer), a new one otherwise
    if (!draft.key || draft.keyFor !== JSON.stringify(body)) {
      draft.key = newKey();
      draft.keyFor = JSON.stringify(body);
    }
    mine.busy = true;
    renderMine();
    const { status, data } = await call("POST", `/api/bookings/${cfg.bookingId}/reschedule`,
      { token: mine.token, json: body, headers: { "Idempotency-Key": draft.key } });
    mine.busy = false;
    if (status === 200) {
      mine.booking = data;
      mine.moving = null;
      mine.problem = "";
      const when = `${dateLabel(dayOf(data.start), true)}, ${clock(data.start)}–${clock(data.end)}`;
      note(data.refund_due > 0 ? "movedRefund" : "moved",
        { when, amount: money(data.refund_due, data.currency) });
    } else {
      mine.problem = apiReason(data) || t("network");
    }
    renderMine();
  }

  function moveForm(b) {
    const draft = mine.moving;
    const field = (name, label, attrs) => el("label", {}, label, el("input", Object.assign({
      id: "move-" + name, name, required: true, value: draft[name],
      oninput: (event) => { draft[name] = event.target.value; } }, attrs)));
    return el("form", { id: "move-form", class: "confirm", onsubmit: moveBooking },
      el("p", { class: "muted" }, t("movePolicy", { hours: cfg.fullRefundHours })),
      field("date", t("moveDate"), { type: "date", min: studioToday() }),
      field("start", t("moveFrom"), { type: "time", step: 60 * cfg.slotMinutes }),
      field("end", t("moveTo"), { type: "time", step: 60 * cfg.slotMinutes }),
      el("button", { type: "submit", class: "primary", id: "move-yes", disabled: mine.busy }, t("moveSubmit")),
      el("button", { type: "button", class: "secondary", id: "move-no",
        onclick: () => { mine.moving = null; renderMine(); } }, t("noKeep")));
  }

  async function downloadCalendar() {
    const response = await fetch(`/api/bookings/${cfg.bookingId}/calendar.ics`, {
      headers: { Authorization: "Bearer " + mine.token } });
    if (!response.ok) {
      mine.problem = t("network");
      return renderMine();
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `booking-${cfg.bookingId.slice(0, 8)}.ics` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  function renderLive() {
    const node = document.getElementById("live");
    if (!node) return;
    node.className = "live " + (mine.live ? "on" : "off");
    node.textContent = mine.live ? t("liveOn") : t("liveOff");
  }

  function renderMine() {
    translateChrome();
    const b = mine.booking;
    const content = [el("h1", {}, t("myBooking"))];
    if (mine.problem) content.push(el("p", { class: "problem", role: "alert" }, mine.problem));
    if (!b) {
      if (!mine.problem) content.push(el("p", { class: "muted" }, t("loading")));
      content.push(el("p", {}, el("a", { href: "/" }, t("bookAnother"))));
      app.replaceChildren(el("section", { class: "card" }, content));
      return;
    }
    const currency = b.currency;
    const statusText = t("status")[b.status] || b.status;
    content.push(
      el("p", { id: "status", class: "status " + b.status, tabindex: "-1", role: "status" }, statusText),
      el("p", { id: "live", class: "live " + (mine.live ? "on" : "off") }, mine.live ? t("liveOn") : t("liveOff")),
      holdLeft() !== null ? el("p", { id: "hold", class: "hold" }) : null,
      mine.events.map((e) => el("p", { class: e.key === "paymentFailed" ? "problem event" : "event",
        id: "note-" + e.key }, t(e.key, e.vars))),
      el("dl", { class: "amounts" },
        el("dt", {}, t("hall")), el("dd", {}, b.hall_name),
        el("dt", {}, t("when")), el("dd", {}, `${dateLabel(dayOf(b.start), true)}, ${clock(b.start)}–${clock(b.end)}`),
        el("dt", {}, t("price")), el("dd", {}, money(b.price_total, currency)),
        el("dt", {}, t("paid")), el("dd", { id: "paid" }, money(b.amount_paid, currency)),
        b.status !== "cancelled" && b.status !== "expired"
          ? [el("dt", {}, t("due")), el("dd", { id: "due" }, money(b.remaining_due, currency))] : null),
      b.status === "cancelled" && b.refund_due ? el("p", { id: "refund", class: "event" },
        t("refundDue", { amount: money(b.refund_due, currency) })) : null,
      el("p", { class: "muted" }, t("bookingNumber", { id: b.id })));
    const actions = el("div", { class: "actions" });
    if (b.status === "pending_payment" && b.amount_paid === 0) {
      {
        actions.append(el("button", { type: "button", class: "primary", id: "pay", disabled: mine.busy,
          onclick: () => payKind("prepayment") }, t("payPrepaymentButton", { amount: money(b.prepayment_amount, currency) })));
        actions.append(el("button", { type: "button", class: "secondary", id: "pay-full", disabled: mine.busy,
          onclick: () => payKind("full") }, t("payFullButton", { amount: money(b.price_total, currency) })));
      }
    }
    if (b.status === "confirmed" && b.remaining_due > 0) {
      actions.append(el("button", { type: "button", class: "primary", id: "pay-rest", disabled: mine.busy,
        onclick: () => payKind("remainder") }, t("payRest", { amount: money(b.remaining_due, currency) })));
    }
    if (b.status === "confirmed" || b.status === "pending_payment") {
      actions.append(el("button", { type: "button", class: "secondary", id: "calendar",
        onclick: downloadCalendar }, t("addToCalendar")));
      if (canMove(b)) {
        actions.append(el("button", { type: "button", class: "secondary", id: "move", disabled: mine.busy,
          "aria-expanded": mine.moving ? "true" : "false",
          onclick: () => {
            mine.moving = { date: dayOf(b.start), start: clock(b.start), end: clock(b.end) };
            renderMine();
            document.getElementById("move-date").focus();
          } }, t("move")));
      }
      actions.append(el("button", { type: "button", class: "danger", id: "cancel", disabled: mine.busy,
        "aria-expanded": mine.confirmingCancel ? "true" : "false",
        onclick: () => { mine.confirmingCancel = true; renderMine(); document.getElementById("cancel-yes").focus(); } },
        t("cancel")));
    }
    content.push(actions);
    if (mine.moving && canMove(b)) content.push(moveForm(b));
    if (mine.confirmingCancel && (b.status === "confirmed" || b.status === "pending_payment")) {
      const refund = refundIfCancelledNow();
      const question = b.amount_paid === 0 ? t("cancelNothingPaid")
        : refund > 0 ? t("cancelRefund", { amount: money(refund, currency) }) : t("cancelNoRefund");
      content.push(el("div", { class: "confirm", role: "alertdialog", "aria-labelledby": "cancel-question" },
        el("p", { id: "cancel-question" }, question),
        el("button", { type: "button", class: "danger", id: "cancel-yes", disabled: mine.busy, onclick: cancelBooking }, t("yesCancel")),
        el("button", { type: "button", class: "secondary", id: "cancel-no",
          onclick: () => { mine.confirmingCancel = false; renderMine(); } }, t("noKeep"))));
    }
    content.push(el("p", {}, el("a", { href: "/" }, t("bookAnother"))));
    const activeId = document.activeElement && document.activeElement.id;
    app.replaceChildren(el("section", { class: "card" }, content));
    if (activeId && document.getElementById(activeId)) document.getElementById(activeId).focus();
    tickHold();
  }

  // --- start ------------------------------------------------------------------------------
  document.getElementById("lang").addEventListener("click", () => {
    lang = lang === "ru" ? "en" : "ru";
    localStorage.setItem("studio.lang", lang);
    if (cfg.view === "booking") renderMine();
    else renderBook();
  });
  narrow.addEventListener("change", () => { if (cfg.view === "book" && book.hall) renderBook(); });
  if (cfg.view === "booking") startMyBooking();
  else startBooking();
})();
