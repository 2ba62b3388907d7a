// The bandwidth page's charts: uPlot (from its npm package, under /static) over the JSON block the page carries.
// Without JavaScript the page still has every number in its tables.
;(function () {
  'use strict'
  var block = document.getElementById('chart-data')
  if (!block || typeof window.uPlot === 'undefined') return
  var data = JSON.parse(block.textContent || '{}')
  if (!data.periods || data.periods.length === 0) {
    var empty = document.querySelectorAll('.chart')
    for (var i = 0; i < empty.length; i++) empty[i].textContent = 'No usage in this range.'
    return
  }
  var css = getComputedStyle(document.documentElement)
  var color = function (name) {
    return css.getPropertyValue(name).trim()
  }
  var palette = [color('--accent'), color('--public'), color('--private'), color('--danger'), color('--muted')]
  var units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']
  function bytes(v) {
    if (v === null || v === undefined) return '—'
    var u = 0
    while (Math.abs(v) >= 1000 && u < units.length - 1) {
      v /= 1000
      u++
    }
    return (u === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[u]
  }
  var axes = function (format) {
    var stroke = color('--muted')
    var grid = { stroke: color('--border'), width: 1 }
    return [
      { stroke: stroke, grid: grid },
      {
        stroke: stroke,
        grid: grid,
        size: 70,
        values: function (u, vals) {
          return vals.map(format)
        },
      },
    ]
  }
  function draw(id, series, values, format, range) {
    var el = document.getElementById(id)
    if (!el) return
    var width = Math.max(280, el.clientWidth - 16)
    var opts = {
      width: width,
      height: 220,
      series: [{}].concat(
        series.map(function (label, i) {
          return {
            label: label,
            stroke: palette[i % palette.length],
            width: 2,
            points: { show: data.periods.length <= 60, size: 5 },
            spanGaps: false,
            value: function (u, v) {
              return format(v)
            },
          }
        }),
      ),
      axes: axes(format),
      scales: range
        ? { y: { range: range } }
        : {
            y: {
              range: function (u, min, max) {
                return [0, Math.max(max, 1)]
              },
            },
          },
    }
    el.textContent = ''
    new window.uPlot(opts, [data.periods].concat(values), el)
  }
  draw(
    'chart-bytes',
    ['Served to clients', 'From upstream', 'Origin egress saved'],
    [data.served, data.upstream, data.saved],
    bytes,
  )
  draw(
    'chart-sites',
    data.sites.map(function (s) {
      return s.name
    }),
    data.sites.map(function (s) {
      return s.served
    }),
    bytes,
  )
  draw(
    'chart-ratio',
    ['Hit ratio'],
    [data.hitRatio],
    function (v) {
      return v === null || v === undefined ? '—' : (v * 100).toFixed(0) + ' %'
    },
    [0, 1],
  )
})()
