// Every plot opens at full size on click (figures are drawn wider than the text column).
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("div.cell_output img")) {
    if (img.closest("a")) continue;
    const link = document.createElement("a");
    link.href = img.src;
    link.className = "full-size-plot";
    link.title = "Open the plot at full size";
    img.replaceWith(link);
    link.appendChild(img);
  }
});

// Two accessibility fixes to the theme (axe-core rules label-content-name-mismatch and region):
// the search button's accessible name must contain its visible text ("Search Ctrl+K"), and the
// primary sidebar, which holds the book's title and navigation, must be a landmark.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.search-button__button[aria-label]")) {
    // Without aria-label the name is the button's own text, which is what a speech user says.
    if (button.innerText.trim()) button.removeAttribute("aria-label");
  }
  const sidebar = document.querySelector(".bd-sidebar-primary");
  if (sidebar && !sidebar.hasAttribute("role")) {
    sidebar.setAttribute("role", "region");
    sidebar.setAttribute("aria-label", "Book navigation");
  }
});
