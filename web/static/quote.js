// Live 折 preview while a rep types the amounts.
(function () {
  const list = document.getElementById('list_amount');
  const quote = document.getElementById('quote_amount');
  const out = document.getElementById('discount-preview');
  if (!list || !quote || !out) return;
  const update = () => {
    const l = parseFloat(list.value.replace(/[,¥]/g, ''));
    const q = parseFloat(quote.value.replace(/[,¥]/g, ''));
    out.textContent = l > 0 && q > 0 ? `${Math.floor((q / l) * 1000) / 100}折 (${Math.floor((q / l) * 10000) / 100}%)` : '';
  };
  list.addEventListener('input', update);
  quote.addEventListener('input', update);
  update();
})();
