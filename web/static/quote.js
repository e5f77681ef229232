// Live 折 preview while a rep types the amounts.
// Integer cents and a cut (never rounded up), like the server's discount: 5.8 ÷ 100 shows 0.58折,
// not the 0.57折 that floor(0.058 * 1000) gives in floating point.
(function () {
  const list = document.getElementById('list_amount');
  const quote = document.getElementById('quote_amount');
  const out = document.getElementById('discount-preview');
  if (!list || !quote || !out) return;
  const cents = (input) => {
    const v = input.value.replace(/[,，¥\s]/g, '');
    return /^\d+(\.\d{0,2})?$/.test(v) ? Math.round(parseFloat(v) * 100) : NaN;
  };
  const update = () => {
    const l = cents(list);
    const q = cents(quote);
    if (!(l > 0 && q > 0)) { out.textContent = ''; return; }
    const tenths = Math.floor((q * 1000) / l) / 100;
    const percent = Math.floor((q * 10000) / l) / 100;
    out.textContent = `${tenths}折 (${percent}%)`;
  };
  list.addEventListener('input', update);
  quote.addEventListener('input', update);
  update();
})();
