from forecast.cli import console

console()
