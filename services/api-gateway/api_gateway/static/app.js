// The viewer's time zone, from the browser, kept in a cookie the server reads for every page.
(function () {
  "use strict";
  var tz;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!tz) return;
  var current = (document.cookie.match(/(?:^|; )tz=([^;]*)/) || [])[1];
  if (current && decodeURIComponent(current) === tz) return;
  document.cookie = "tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; SameSite=Strict";
  var url = new URL(window.location.href);
  if (!url.searchParams.has("tz") && document.body.dataset.tz !== tz) window.location.reload();
})();
