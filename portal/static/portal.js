// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // transcript follow-along: click a timestamp to seek; highlight the segment being played
  const player = document.getElementById("player");
  if (player) {
    document.querySelectorAll("button[data-seek]").forEach((b) =>
      b.addEventListener("click", () => { player.currentTime = parseFloat(b.dataset.seek); player.play(); }));
    const segs = Array.from(document.querySelectorAll(".seg[data-start]"));
    player.addEventListener("timeupdate", () => {
      let current = null;
      for (const s of segs) if (parseFloat(s.dataset.start) <= player.currentTime) current = s;
      segs.forEach((s) => s.classList.toggle("playing", s === current));
    });
    // the waveform: click to play from that point; a cursor follows playback
    const wave = document.getElementById("waveform"), cursor = document.getElementById("wave-cursor");
    if (wave) {
      const dur = parseFloat(wave.dataset.duration);
      wave.addEventListener("click", (ev) => {
        const r = wave.getBoundingClientRect();
        player.currentTime = Math.max(0, (ev.clientX - r.left) / r.width) * dur;
        player.play();
      });
      player.addEventListener("timeupdate", () => {
        if (cursor) cursor.setAttribute("x", String(Math.min(998, (player.currentTime / dur) * 1000)));
      });
    }
    const speed = document.getElementById("speed");
    if (speed) speed.addEventListener("change", () => { player.playbackRate = parseFloat(speed.value); });
    // a search snippet links to the call at its line: /recordings/ID#t=SECONDS
    const m = /^#t=(\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (m) {
      const at = parseFloat(m[1]);
      const seek = () => { player.currentTime = at; };
      if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, { once: true });
    }
  }
  // confirmations for switches with wide consequences (legal hold)
  document.querySelectorAll("input[data-confirm]").forEach((box) =>
    box.addEventListener("change", (ev) => { if (!window.confirm(box.dataset.confirm)) box.checked = !box.checked; }));
  // copy buttons (SFTP credentials shown once)
  document.querySelectorAll("button[data-copy]").forEach((b) =>
    b.addEventListener("click", () => {
      const el = document.getElementById(b.dataset.copy);
      if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim()).then(() => { b.textContent = "Copied"; });
    }));
  // Focus: forced comments and communication reviews exclude each other
  const fc = document.getElementById("forced_comments"), cr = document.getElementById("communication_reviews");
  if (fc && cr) {
    fc.addEventListener("change", () => { if (fc.checked) cr.checked = false; });
    cr.addEventListener("change", () => { if (cr.checked) fc.checked = false; });
  }
});
