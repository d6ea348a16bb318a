// What the booking page (page.js) and the dashboard (admin.js) both use: the words lookup,
// the DOM helper, request keys, money and calendar days. Plain JavaScript, no build step, no
// library; each page's template loads it before the page's own script.
"use strict";

window.Studio = (function () {
  // The page's words in both languages: a JSON data block the server puts in the page (a data
  // block is not a script, so the Content-Security-Policy lets it be).
  function pageWords() {
    return JSON.parse(document.getElementById("words").textContent);
  }

  // t(key, vars) over a page's word tables ({ru: {...}, en: {...}}) in the language
  // `language()` names; Russian where English lacks a word, else the key itself.
  function words(tables, language) {
    return function t(key, vars) {
      let text = tables[language()][key];
      if (text === undefined) text = tables.ru[key] !== undefined ? tables.ru[key] : key;
      if (typeof text !== "string") return text;
      return text.replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? vars[name] : ""));
    };
  }

  // el("p", {class: "x", text: "...", onclick: fn, dataset: {...}}, child, [children], ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // An Idempotency-Key: a retried request (a double click, a lost answer) makes nothing twice.
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function money(kopecks, language, currency) {
    const amount = kopecks || 0;
    return new Intl.NumberFormat(language === "ru" ? "ru-RU" : "en-GB", {
      style: "currency", currency: currency || "RUB",
      minimumFractionDigits: amount % 100 ? 2 : 0, maximumFractionDigits: 2,
    }).format(amount / 100);
  }

  // Calendar days as "YYYY-MM-DD" strings, counted in UTC so no zone's clock change moves them.
  function dateOf(day) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  }
  function addDays(day, n) {
    const date = dateOf(day);
    date.setUTCDate(date.getUTCDate() + n);
    return date.toISOString().slice(0, 10);
  }
  function weekdayOf(day) { return (dateOf(day).getUTCDay() + 6) % 7; }  // 0 = Monday
  function mondayOf(day) { return addDays(day, -weekdayOf(day)); }
  function today(timezone) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric",
      month: "2-digit", day: "2-digit" }).format(new Date());
  }
  function minutesOf(clock) { const [h, m] = clock.split(":").map(Number); return h * 60 + m; }
  function clockOf(minutes) {
    return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
  }

  return { pageWords, words, el, newKey, money, dateOf, addDays, weekdayOf, mondayOf, today,
           minutesOf, clockOf };
})();
