// Baton chat loader: <script src="https://baton.example.com/static/baton/embed.js" data-baton="https://baton.example.com" async></script>
// Adds a launcher button that opens the chat in an iframe. Optional data-user-id,
// data-user-name and data-user-hash identify the site's signed-in user;
// data-user-traits and data-user-traits-hash describe them (segment, language, ...).
(function () {
  var script = document.currentScript;
  if (!script || window.__batonLoaded) return;
  window.__batonLoaded = true;
  var base = (script.dataset.baton || new URL(script.src).origin).replace(/\/$/, "");
  var params = new URLSearchParams({ embed: "1" });
  if (script.dataset.userId) params.set("user_id", script.dataset.userId);
  if (script.dataset.userName) params.set("name", script.dataset.userName);
  if (script.dataset.userHash) params.set("user_hash", script.dataset.userHash);
  // Optional facts about the user (JSON: segment, language, plan, ...), signed the same way.
  if (script.dataset.userTraits) params.set("traits", script.dataset.userTraits);
  if (script.dataset.userTraitsHash) params.set("traits_hash", script.dataset.userTraitsHash);

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat with us";
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border:0;border-radius:999px;background:#2f5bea;color:#fff;font:600 15px system-ui,sans-serif;box-shadow:0 6px 20px rgba(0,0,0,.25);cursor:pointer";
  var frame = null;
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = base + "/chat/?" + params.toString();
      frame.title = "Support chat";
      frame.style.cssText = "position:fixed;right:20px;bottom:80px;z-index:2147483000;width:380px;height:560px;max-width:calc(100vw - 40px);max-height:calc(100vh - 100px);border:0;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.3);background:#fff";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  document.body.appendChild(button);
})();
