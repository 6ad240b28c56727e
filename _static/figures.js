// Every figure of a chapter's outputs opens full size on a tap or click: on a phone the
// column shrinks a figure to 358 px, too small to read its labels (tests/test_site.py).
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll(".cell_output img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.src;
    link.title = "Open the figure full size";
    img.replaceWith(link);
    link.appendChild(img);
  }
});
