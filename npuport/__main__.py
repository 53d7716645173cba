from npuport.cli import main

main()
