// Baton chat loader: <script src="https://baton.example.com/static/baton/embed.js" data-baton="https://baton.example.com" async></script>
// Adds a launcher button that opens the chat in an iframe, and keeps the customer's
// session token in this site's own localStorage: the chat frame asks for it with
// postMessage when it starts and hands back the renewed one, so reloads and page
// changes keep the conversation without third-party cookies (docs/security.md).
// Optional: data-user-jwt (a JWT your server signs with the site's secret: sub, exp,
// name, email, traits) identifies your signed-in user; the legacy data-user-id,
// data-user-hash, data-user-traits and data-user-traits-hash still work;
// data-user-name is shown as an unverified name.
(function () {
  var script = document.currentScript;
  if (!script || window.__batonLoaded) return;
  window.__batonLoaded = true;
  var base = (script.dataset.baton || new URL(script.src).origin).replace(/\/$/, "");
  var baseOrigin = new URL(base).origin;
  var tokenKey = "baton.session:" + baseOrigin;
  var openKey = "baton.open:" + baseOrigin;
  var d = script.dataset;
  var identity = null;
  if (d.userJwt) identity = { jwt: d.userJwt };
  else if (d.userId) identity = { user_id: d.userId, user_hash: d.userHash || "", name: d.userName || "", traits: d.userTraits || "", traits_hash: d.userTraitsHash || "" };

  function read(key) { try { return localStorage.getItem(key) || ""; } catch (e) { return ""; } }
  function write(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* this page only */ } }

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat with us";
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border:0;border-radius:999px;background:#2f5bea;color:#fff;font:600 15px system-ui,sans-serif;box-shadow:0 6px 20px rgba(0,0,0,.25);cursor:pointer";
  var frame = null;

  // Only the chat frame, from Baton's origin, gets the token, and only it may store one.
  window.addEventListener("message", function (e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== baseOrigin || !e.data) return;
    if (e.data.type === "baton:ready") {
      frame.contentWindow.postMessage(
        { type: "baton:session", token: read(tokenKey), identity: identity, name: d.userName || "" }, baseOrigin);
    } else if (e.data.type === "baton:token" && typeof e.data.token === "string") {
      write(tokenKey, e.data.token);
    }
  });

  function toggle() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = base + "/chat/?embed=1&loader=1";
      frame.title = "Support chat";
      frame.style.cssText = "position:fixed;right:20px;bottom:80px;z-index:2147483000;width:380px;height:560px;max-width:calc(100vw - 40px);max-height:calc(100vh - 100px);border:0;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.3);background:#fff";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
    write(openKey, frame.hidden ? "" : "1"); // open again on the next page of this site
  }
  button.addEventListener("click", toggle);
  document.body.appendChild(button);
  if (read(openKey)) toggle();
})();
