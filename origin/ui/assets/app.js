// Wharf's web UI: the little that needs JavaScript. Pages work without it; this adds copy buttons and sends the
// CSRF token with htmx's requests. Loaded from /static (the Content-Security-Policy allows no inline script).
;(function () {
  'use strict'
  var token = document.querySelector('meta[name="csrf-token"]')
  document.addEventListener('htmx:configRequest', function (e) {
    if (token) e.detail.headers['X-CSRF-Token'] = token.getAttribute('content')
  })

  function wireCopyButtons(root) {
    var buttons = root.querySelectorAll('button.copy[data-copy]')
    for (var i = 0; i < buttons.length; i++) {
      var b = buttons[i]
      if (b.dataset.wired) continue
      b.dataset.wired = '1'
      if (!navigator.clipboard) continue
      b.hidden = false
      b.addEventListener('click', function (ev) {
        var button = ev.currentTarget
        navigator.clipboard.writeText(button.getAttribute('data-copy')).then(
          function () {
            button.textContent = 'Copied'
            setTimeout(function () {
              button.textContent = 'Copy'
            }, 1500)
          },
          function () {
            button.textContent = 'Select and copy'
          },
        )
      })
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    wireCopyButtons(document)
  })
  document.addEventListener('htmx:afterSettle', function (e) {
    wireCopyButtons(e.target)
  })
})()
