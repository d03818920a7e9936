"""What a browser test reads from the HTML report: one JavaScript expression, evaluated in the page."""

from __future__ import annotations

# What the page shows: title, the first screen (inside the viewport?), summary, evidence blocks and grids.
PAGE_STATE = """(() => {
  const visible = el => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
  };
  const onFirstScreen = el => visible(el) && el.getBoundingClientRect().bottom <= window.innerHeight;
  const top = el => el ? el.getBoundingClientRect().top + window.scrollY : -1;
  const summary = document.getElementById('k8sh-summary');
  const run = document.getElementById('k8sh-run');
  const findings = document.getElementById('k8sh-findings');
  const rows = findings ? [...findings.querySelectorAll('tr')].slice(1) : [];
  const blocks = [...document.querySelectorAll('.k8sh-evidence')].filter(visible);
  const cells = [...document.querySelectorAll('.k8sh-evidence table.grid td')].filter(visible);
  return {title: document.title, headline: document.querySelector('.k8sh-headline')?.innerText || '',
          findingsOnFirstScreen: onFirstScreen(findings),
          findings: rows.map(r => r.innerText), findingsOnScreen: rows.filter(onFirstScreen).length,
          summary: visible(summary), summaryText: summary ? summary.innerText : '',
          bars: document.querySelectorAll('#k8sh-summary .k8sh-bar span').length,
          run: visible(run), runText: run ? run.innerText : '',
          environmentBelowResults: top(document.getElementById('environment'))
                                   > top(document.getElementById('results-table')),
          tableHead: [...document.querySelectorAll('#results-table-head th')].map(th => th.innerText),
          evidence: blocks.length, evidenceText: blocks.map(b => b.innerText).join('\\n'),
          gridCells: cells.map(td => [td.className, td.innerText, getComputedStyle(td).backgroundColor]
                               .join(':'))};
})()"""
