import shutil
import pytest

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": shutil.which("chromium"),
            "args": ["--headless", "--no-sandbox", "--disable-gpu"]}
