"""End to end in headless Chromium: open the page, upload a photo, wait for the result, check it.

Needs Debian's ``chromium`` (``make test`` installs it when absent) and the Playwright package; the
test is skipped, saying which is missing, without them. Playwright drives the system Chromium: it
never downloads a browser of its own. Set ``SRGAN_SCREENSHOT=docs/serve-screenshot.png`` to also
save the screenshot there (that is how the README's picture is made).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="srgan serve needs the web extra (pip install 'srgan[web]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
from live_server import running_server  # noqa: E402
from serve_fakes import make_tiny_models, save_tiny_upscaler  # noqa: E402

from srgan.models.zoo import default_upscaler  # noqa: E402
from srgan.ops.imresize import imresize_uint8  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    models = make_tiny_models(folder / "models")
    # Another upscaler listed first, and the default (the model `srgan info` names) second: the page must
    # preselect what the server calls the default, not the first in its list.
    other = save_tiny_upscaler(folder / "models" / "another-x2.safetensors", gain=0.8)
    default = save_tiny_upscaler(folder / "models" / f"{default_upscaler()}.safetensors")
    with running_server([other, default, models["denoiser"], models["ffdnet"]], folder) as (url, _pid):
        yield url


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 820})
            page.set_default_timeout(60_000)
            page.requests = []  # every URL the page asks for, to prove it never leaves the server
            page.on("request", lambda r: page.requests.append(r.url))
            page.errors = []
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.goto(server)
            yield page
        finally:
            browser.close()


def test_upload_upscale_and_compare(page, server, tmp_path):
    photo = tmp_path / "chelsea.png"
    small = imresize_uint8(np.asarray(Image.open(REPO / "examples" / "chelsea.png")), scale=0.5)
    Image.fromarray(small).save(photo)
    height, width = small.shape[:2]

    # Selector waits, not wait_for_function: the page's CSP forbids the eval that the latter uses.
    page.wait_for_selector("#model option", state="attached")
    cards = page.evaluate("async () => (await fetch('/api/models')).json()")
    assert [c["name"] for c in cards if c["default"] and c["kind"] != "denoiser"] == [default_upscaler()]
    assert page.eval_on_selector_all("#model option", "os => os.map((o) => o.value)")[0] == "another-x2"
    assert page.input_value("#model") == default_upscaler()
    page.set_input_files("#file", str(photo))
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=error]", state="attached")
    assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error")

    sizes = page.evaluate(
        """() => ['result-after', 'result-before'].map((id) => {
            const img = document.getElementById(id);
            return [img.naturalWidth, img.naturalHeight];
        })"""
    )
    assert sizes == [[2 * width, 2 * height], [2 * width, 2 * height]]
    assert page.inner_text("#label-before").startswith("Bicubic ×2")
    assert page.get_attribute("#download", "download") == "chelsea-x2.png"

    # The divider and the zoom respond.
    page.fill("#split", "30")
    page.dispatch_event("#split", "input")
    assert "70%" in page.eval_on_selector("#result-before", "el => el.style.clipPath")
    page.click("#zoom-1")
    assert page.inner_text("#zoom-level") == "100%"
    page.click("#zoom-fit")
    page.eval_on_selector("#split", "el => { el.value = '50'; el.dispatchEvent(new Event('input')); }")
    # No focus ring or hover highlight left over from the clicks in the picture.
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.move(200, 760)

    shot = tmp_path / "serve-screenshot.png"
    page.screenshot(path=str(shot))
    assert Image.open(shot).size == (1360, 820)
    if os.environ.get("SRGAN_SCREENSHOT"):
        shutil.copyfile(shot, REPO / os.environ["SRGAN_SCREENSHOT"])

    assert not page.errors
    foreign = [u for u in page.requests if not u.startswith((server, "blob:", "data:"))]
    assert not foreign, foreign


def test_an_error_is_shown_from_the_json(page, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not a picture at all")
    page.set_input_files("#file", str(junk))
    page.click("#run")
    page.wait_for_selector("body[data-state=error]", state="attached")
    message = page.inner_text("#error")
    assert "415" in message and "not an image" in message


def test_the_noise_level_is_asked_for_a_denoiser_told_it(page, tmp_path):
    photo = tmp_path / "noisy.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    page.set_input_files("#file", str(photo))
    page.check('input[name="task"][value="denoise"]')
    page.select_option("#model", "tiny-denoiser")
    assert not page.is_visible("#sigma-field")  # a blind denoiser has no input for σ
    page.select_option("#model", "tiny-ffdnet")
    assert page.is_visible("#sigma-field") and page.is_disabled("#sigma")  # estimate is the default

    def run() -> str:
        page.evaluate("() => { document.body.dataset.state = 'idle'; }")
        page.click("#run")
        page.wait_for_selector("body[data-state=done], body[data-state=error]", state="attached")
        assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error")
        return page.inner_text("#result-info")

    assert "(estimated)" in run()
    page.check('input[name="sigma-mode"][value="value"]')
    page.fill("#sigma", "0.2")
    assert "σ 0.200 (given)" in run()
    page.check('input[name="task"][value="upscale"]')
    assert not page.is_visible("#sigma-field")
