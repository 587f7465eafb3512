// What the browser tests check inside a page, shared by both drivers
// (playwright-core for chromium, puppeteer-core for Firefox): each is a
// self-contained function to pass to `page.evaluate`, which sends its
// source to the page.

/// Everything the page keeps beyond the moment: its address, local and
/// session storage and cookies, as one text (where a key must never be).
export function keptByThePage() {
  return JSON.stringify({
    url: location.href,
    local: { ...localStorage },
    session: { ...sessionStorage },
    cookie: document.cookie,
  });
}
