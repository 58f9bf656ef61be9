"""Protocol-faithful WeChat Pay v3 and Alipay gateway simulators (DESIGN §6).

They keep their own state and talk to the platform only over HTTP, as the real gateways do. Platform code
never imports this package; only the composition root (``indiepay.app``) and the CLI mount it. Shared by
both: :mod:`.clock` (a business clock tests can move, so "yesterday's bill" exists on demand) and
:mod:`.billing` (when bills are published, fees, the bill-corruption fault knobs, download links).
"""
